"""Ending the RUNNING runs of processes that are gone (``spanrun.store._dead_runs``), and the
process identity they are judged by (``spanrun.core.process``), on SQLite and PostgreSQL.

"Gone" processes here are real ones: a ``sleep`` child killed with SIGKILL and reaped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spanrun.core import process as _process
from spanrun.core.entities import Metric, RunTag, SpanRecord
from spanrun.core.process import PROCESS_TAG, ProcessId, current_process, process_gone, process_tag
from spanrun.store import SqlAlchemyStore, _dead_runs
from spanrun.store._dead_runs import END_REASON_TAG, end_dead_process_runs
from spanrun.store._registry import clear_store_cache, get_export_store, get_store
from spanrun.store._run_writer import SqlRunWriter
from tests.store._spans import make_span


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture
def dead_tag() -> str:
    """The tag of a process that ran on this host and was killed (and reaped)."""
    proc = subprocess.Popen(["sleep", "600"])
    tag = process_tag(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return tag


def with_part(tag: str, **parts: str) -> str:
    recorded = ProcessId.parse(tag)
    assert recorded is not None
    return dataclasses.replace(recorded, **parts).tag_value()


def new_run(store: SqlAlchemyStore, tag: str | None, start: int = 1_000) -> str:
    tags = [RunTag(PROCESS_TAG, tag)] if tag is not None else []
    return store.create_run("0", "u", start, tags, None).info.run_id


def status(store: SqlAlchemyStore, run_id: str) -> str:
    return store.get_run(run_id).info.status


# -- the process identity ----------------------------------------------------------------------
def test_tag_names_this_process() -> None:
    here = ProcessId.parse(_process.current_process_tag())
    assert here is not None and here.pid == os.getpid()
    if Path("/proc/self/stat").exists():
        assert here.start.isdigit() and here.boot and here.scope
    assert ProcessId.parse(process_tag(os.getpid())) == here
    assert not process_gone(here.tag_value())


def test_judging_a_recorded_process(sleeper: subprocess.Popen[bytes], dead_tag: str) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    live = process_tag(sleeper.pid)
    assert not process_gone(live)
    assert process_gone(dead_tag)
    # The live pid, but another start time: the pid was reused, the recorded process is gone.
    assert process_gone(with_part(live, start="1"))
    # Recorded before the last reboot: gone, whatever the pid holds now.
    assert process_gone(with_part(live, boot="00000000"))
    # Unknowable: another host, other pids (another machine of that name, another container),
    # or a value that is not a tag: never judged gone.
    assert not process_gone(with_part(dead_tag, host="elsewhere"))
    assert not process_gone(with_part(dead_tag, scope="ffffffff"))
    assert not process_gone(with_part(dead_tag, boot=""))
    for junk in ("", "host", "h:notapid:1:2:3", "a:b:c"):
        assert not process_gone(junk)


def test_zombie_is_gone() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    proc = subprocess.Popen(["sleep", "600"])
    try:
        tag = process_tag(proc.pid)
        proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (stat := _process._stat(proc.pid)) is not None and stat[0] != "Z":
            assert time.monotonic() < deadline, stat
            time.sleep(0.005)
        assert stat is not None  # not reaped yet: a zombie, still in /proc
        assert process_gone(tag)
    finally:
        proc.wait()


# -- the sweep -----------------------------------------------------------------------------------
def test_sweep_ends_runs_of_gone_processes_only(
    store: SqlAlchemyStore, sleeper: subprocess.Popen[bytes], dead_tag: str
) -> None:
    dead = new_run(store, dead_tag, start=1_000)
    metrics = [Metric("m", 1.0, 4_000, 0), Metric("m", 2.0, 5_000, 1), Metric("n", 1.0, 2_000, 0)]
    store.log_batch(dead, metrics=metrics)
    dead_traced = new_run(store, dead_tag, start=1_000)
    store.log_spans([_span(dead_traced, start_ms=2_000, end_ms=7_000)])
    dead_idle = new_run(store, dead_tag, start=3_000)
    finished = new_run(store, dead_tag)
    store.update_run_info(finished, status="FINISHED", end_time=2_000)
    keep = {
        "live": new_run(store, process_tag(sleeper.pid)),
        "mine": new_run(store, _process.current_process_tag()),
        "other host": new_run(store, with_part(dead_tag, host="elsewhere")),
        "untagged": new_run(store, None),
        "not a tag": new_run(store, "made up"),
    }

    ended = end_dead_process_runs(store)

    assert sorted(ended) == sorted([dead, dead_traced, dead_idle])
    for run_id, end_time in ((dead, 5_000), (dead_traced, 7_000), (dead_idle, 3_000)):
        run = store.get_run(run_id)
        assert run.info.status == "KILLED"
        assert run.info.end_time == end_time  # the latest activity: metric, trace, or start
        assert run.data.tags[END_REASON_TAG] == "process_gone"
        assert run.data.tags[PROCESS_TAG] == dead_tag
    assert store.get_run(finished).info.end_time == 2_000
    assert status(store, finished) == "FINISHED"
    assert {name: status(store, run_id) for name, run_id in keep.items()} == dict.fromkeys(
        keep, "RUNNING"
    )
    assert end_dead_process_runs(store) == []  # nothing left to do


def test_a_run_resumed_meanwhile_is_not_ended(store: SqlAlchemyStore, dead_tag: str) -> None:
    run_id = new_run(store, dead_tag)
    real = _dead_runs._dead

    def resumed_after_the_read(rows):  # a live process resumes it between read and write
        found = real(rows)
        store.log_batch(run_id, tags=[RunTag(PROCESS_TAG, _process.current_process_tag())])
        return found

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_dead_runs, "_dead", resumed_after_the_read)
        assert end_dead_process_runs(store) == []
    assert status(store, run_id) == "RUNNING"


def test_opening_a_store_sweeps_once_per_process(tmp_path: Path, dead_tag: str) -> None:
    uri = f"sqlite:///{tmp_path / 'open.db'}"
    store = get_store(uri)
    first = new_run(store, dead_tag)
    assert get_store(uri) is store and status(store, first) == "RUNNING"  # already swept
    second = new_run(store, dead_tag)
    clear_store_cache()  # as a new process would: opening the database sweeps
    exporter_store = get_export_store(uri)
    assert isinstance(exporter_store, SqlRunWriter)
    assert status(exporter_store, first) == "KILLED"
    assert status(exporter_store, second) == "KILLED"
    third = new_run(exporter_store, dead_tag)
    # The same database opened through the other store kind: not swept twice.
    assert status(get_store(uri), third) == "RUNNING"


def test_sweep_failure_never_reaches_the_user(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: str) -> list[str]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(_dead_runs, "_sweep_sqlite", broken)
    with caplog.at_level(logging.WARNING, logger="spanrun"):
        store = get_store(f"sqlite:///{tmp_path / 'broken.db'}")
    assert store.search_runs(["0"]) == []
    assert "could not end the runs of killed processes" in caplog.text


def test_sweep_waits_briefly_for_a_locked_database(
    sqlite_store: SqlAlchemyStore, dead_tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run(sqlite_store, dead_tag)
    monkeypatch.setattr(_dead_runs, "_LOCK_WAIT_MS", 50)
    path = sqlite_store.engine.url.database
    assert path is not None
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert end_dead_process_runs(sqlite_store) == []  # gave up, logged; no exception
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert status(sqlite_store, run_id) == "RUNNING"
    assert end_dead_process_runs(sqlite_store) == [run_id]  # the next opening does it


def test_candidates_are_running_runs_then_their_tag(sqlite_store: SqlAlchemyStore) -> None:
    """One query: the runs table (RUNNING ones), then each one's process tag by primary key;
    never a scan of the tags of every run."""
    path = sqlite_store.engine.url.database
    assert path is not None
    params = _dead_runs._params(current_process().host + ":")
    sql = _dead_runs._CANDIDATES.format(join="CROSS JOIN")
    with sqlite3.connect(path) as conn:
        plan = [str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    assert plan == [
        "SCAN r",
        "SEARCH t USING INDEX sqlite_autoindex_tags_1 (run_id=? AND key=?)",
    ], plan


def _span(run_id: str, start_ms: int, end_ms: int) -> SpanRecord:
    span = make_span("ab" * 16, "cd" * 8, None, start_ms * 1_000_000, run_id=run_id)
    return dataclasses.replace(span, end_time_ns=end_ms * 1_000_000)
