"""Fixtures for the tracking API tests: every test gets its own SQLite store in tmp_path and a
fluent API with no leftover state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import spanrun
from spanrun.tracking import _async_logging, _uri
from spanrun.tracking.fluent import tracker

_ENV_VARS = (
    "SPANRUN_TRACKING_URI",
    "SPANRUN_ENABLE_ASYNC_LOGGING",
    "SPANRUN_TRUNCATE_LONG_VALUES",
    "SPANRUN_RUN_ID",
    "SPANRUN_EXPERIMENT_ID",
    "SPANRUN_EXPERIMENT_NAME",
)


def _reset() -> None:
    # Errors here belong to the test that left them (it asserted what it wanted already).
    while spanrun.active_run() is not None:
        with contextlib.suppress(Exception):
            spanrun.end_run()
    with contextlib.suppress(Exception):
        _async_logging.flush()
    tracker.reset()
    _uri._state.reset()


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    _reset()
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    spanrun.set_tracking_uri(uri)
    yield uri
    _reset()


@pytest.fixture
def client(tracking_uri: str) -> spanrun.SpanrunClient:
    return spanrun.SpanrunClient(tracking_uri)
