from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import spanrun
from spanrun.cli import main
from spanrun.tracking import _uri
from spanrun.tracking.client import SpanrunClient
from spanrun.tracking.fluent import tracker


def _reset() -> None:
    while spanrun.active_run() is not None:
        with contextlib.suppress(Exception):
            spanrun.end_run()
    tracker.reset()
    _uri._state.reset()


@dataclass
class Cli:
    """Runs ``spanrun --tracking-uri <tmp store> ...`` in-process."""

    uri: str
    client: SpanrunClient

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["--tracking-uri", self.uri, *args])

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.delenv("SPANRUN_TRACKING_URI", raising=False)
    _reset()
    uri = f"sqlite:///{tmp_path / 'spanrun.db'}"
    yield Cli(uri, SpanrunClient(uri))
    _reset()
