from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import spanrun
from spanrun.artifacts import LocalArtifactRepository
from spanrun.tracking import _uri
from spanrun.tracking.client import SpanrunClient
from spanrun.tracking.fluent import tracker


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    return tmp_path / "exp" / "run" / "artifacts"


@pytest.fixture
def repo(artifact_root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(artifact_root.as_uri())


def _reset() -> None:
    while spanrun.active_run() is not None:
        with contextlib.suppress(Exception):
            spanrun.end_run()
    tracker.reset()
    _uri._state.reset()


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite store in tmp_path, set as the process tracking URI for the test."""
    for name in ("SPANRUN_TRACKING_URI", "SPANRUN_EXPERIMENT_ID", "SPANRUN_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    _reset()
    uri = f"sqlite:///{tmp_path / 'store' / 'spanrun.db'}"
    (tmp_path / "store").mkdir()
    spanrun.set_tracking_uri(uri)
    yield uri
    _reset()


@pytest.fixture
def client(tracking_uri: str) -> SpanrunClient:
    return SpanrunClient(tracking_uri)
