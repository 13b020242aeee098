"""Tracking URI resolution: set_tracking_uri, then SPANRUN_TRACKING_URI, then the default."""

from __future__ import annotations

from pathlib import Path

import pytest

import spanrun
from spanrun.tracking import _uri


def test_explicit_uri_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPANRUN_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    spanrun.set_tracking_uri(f"sqlite:///{tmp_path / 'set.db'}")
    assert spanrun.get_tracking_uri().endswith("set.db")
    assert spanrun.is_tracking_uri_set()


def test_environment_then_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _uri._state.reset()
    monkeypatch.chdir(tmp_path)
    assert not spanrun.is_tracking_uri_set()
    assert spanrun.get_tracking_uri() == f"sqlite:///{tmp_path / 'spanrun.db'}"
    monkeypatch.setenv("SPANRUN_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    assert spanrun.get_tracking_uri().endswith("env.db")
    assert spanrun.is_tracking_uri_set()


def test_default_store_writes_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _uri._state.reset()
    monkeypatch.chdir(tmp_path)
    with spanrun.start_run() as run:
        spanrun.log_text("hi", "hello.txt")
    assert (tmp_path / "spanrun.db").exists()
    assert list((tmp_path / "spanrun-artifacts").rglob("hello.txt"))
    assert spanrun.get_run(run.info.run_id).info.status == "FINISHED"


def test_plain_paths_become_sqlite_uris(tmp_path: Path) -> None:
    spanrun.set_tracking_uri(tmp_path / "store.db")
    assert spanrun.get_tracking_uri() == f"sqlite:///{tmp_path / 'store.db'}"
    spanrun.set_tracking_uri(str(tmp_path / "dir"))
    assert spanrun.get_tracking_uri() == f"sqlite:///{tmp_path / 'dir' / 'spanrun.db'}"
    with pytest.raises(spanrun.InvalidInputError):
        spanrun.set_tracking_uri("  ")


def test_switching_uri_switches_store(tmp_path: Path) -> None:
    spanrun.set_tracking_uri(f"sqlite:///{tmp_path / 'a.db'}")
    spanrun.create_experiment("only-in-a")
    spanrun.set_tracking_uri(f"sqlite:///{tmp_path / 'b.db'}")
    assert spanrun.get_experiment_by_name("only-in-a") is None
