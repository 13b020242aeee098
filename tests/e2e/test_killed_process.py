"""A process killed with SIGKILL leaves its runs RUNNING; the next process to open the store on
this host ends them as KILLED, and never touches the runs of a process that is alive.

Real processes throughout: ``_hold_run.py`` makes a run (autolog's session or trace run, or
``start_run``) RUNNING in the store, then waits; the test kills it (or leaves it alive) and only
then opens the store in this process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import spanrun
from spanrun.cli import main as cli_main
from spanrun.core.process import current_process_tag
from spanrun.store._dead_runs import end_dead_process_runs
from spanrun.store._registry import clear_store_cache, get_store
from spanrun.testing.openai_server import OpenAIServer

HOLD = Path(__file__).with_name("_hold_run.py")


class Holder:
    """Starts ``_hold_run.py`` processes and cleans up the ones a test left alive."""

    def __init__(self, tracking_uri: str, base_url: str) -> None:
        self.env = {**os.environ, "SPANRUN_TRACKING_URI": tracking_uri}
        self.base_url = base_url
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, mode: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(HOLD), mode, self.base_url],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            pytest.fail(f"{mode} holder did not start: {line!r} {proc.communicate()[1]}")
        return proc

    def kill(self, proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)


@pytest.fixture
def holder(tracking_uri: str, openai_server: OpenAIServer) -> Iterator[Holder]:
    h = Holder(tracking_uri, openai_server.base_url)
    yield h
    h.close()


def raw_runs(tracking_uri: str) -> dict[str, tuple[str, str]]:
    """run_id -> (status, spanrun.process tag), read without spanrun (which would sweep)."""
    path = tracking_uri.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT r.run_id, r.status, t.value FROM runs r LEFT JOIN tags t "
            "ON t.run_id = r.run_id AND t.key = 'spanrun.process'"
        ).fetchall()
    return {run_id: (status, tag) for run_id, status, tag in rows}


@pytest.mark.parametrize("mode", ["session", "trace"])
def test_autologged_run_of_killed_process_is_ended_killed(holder, tracking_uri, mode):
    proc = holder.start(mode)
    ((run_id, (status, tag)),) = raw_runs(tracking_uri).items()
    assert status == "RUNNING"
    assert tag.split(":")[1] == str(proc.pid)
    holder.kill(proc)
    assert raw_runs(tracking_uri)[run_id][0] == "RUNNING"  # what the kill leaves

    run = spanrun.get_run(run_id)  # this process opens the store: the sweep
    assert run.info.status == "KILLED"
    assert run.data.tags["spanrun.end_reason"] == "process_gone"
    assert run.data.tags["spanrun.run_mode"] == mode
    calls = 3 if mode == "session" else 1
    assert run.data.metrics["llm.calls"] == calls
    # Ended at its last recorded activity (the last call), not at the time of the sweep.
    last_call = max(m.timestamp for m in spanrun.get_metric_history(run_id, "llm.calls"))
    assert run.info.start_time <= last_call <= run.info.end_time
    assert run.info.end_time - last_call < 5_000


def test_killed_run_is_killed_and_live_run_stays_running(holder, tracking_uri):
    live = holder.start("fluent")
    (live_run,) = raw_runs(tracking_uri)
    doomed = holder.start("fluent")
    (killed_run,) = set(raw_runs(tracking_uri)) - {live_run}
    holder.kill(doomed)

    # The CLI is the first in this process to open the store: its listing shows the sweep.
    result = CliRunner().invoke(cli_main, ["--tracking-uri", tracking_uri, "runs", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[2:]}
    assert " KILLED " in lines[killed_run]
    assert " RUNNING " in lines[live_run]

    runs = spanrun.search_runs(output_format="list")
    assert {r.info.run_id: r.info.status for r in runs} == {
        killed_run: "KILLED",
        live_run: "RUNNING",
    }
    frame = spanrun.search_runs(filter_string="attributes.status = 'KILLED'")
    assert list(frame["run_id"]) == [killed_run]
    assert frame["tags.spanrun.end_reason"].tolist() == ["process_gone"]
    killed = spanrun.get_run(killed_run)
    # Ended at its latest activity: the metric logged right after the start.
    (metric,) = spanrun.get_metric_history(killed_run, "progress")
    assert killed.info.end_time == max(killed.info.start_time, metric.timestamp)
    assert live.poll() is None  # it was alive all along


def test_runs_list_json_shows_killed(holder, tracking_uri):
    holder.kill(holder.start("fluent"))
    done = subprocess.run(
        [sys.executable, "-m", "spanrun.cli", "runs", "list", "--json"],
        env=holder.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(done.stdout)
    assert run["info"]["status"] == "KILLED"


def test_resumed_run_belongs_to_the_process_that_resumed_it(holder, tracking_uri):
    holder.kill(holder.start("fluent"))
    (run_id,) = raw_runs(tracking_uri)
    assert spanrun.get_run(run_id).info.status == "KILLED"
    with spanrun.start_run(run_id=run_id):  # this live process takes it over
        assert raw_runs(tracking_uri)[run_id] == ("RUNNING", current_process_tag())
        clear_store_cache()
        reopened = get_store(tracking_uri)  # opened anew: swept, as by another process
        assert reopened.get_run(run_id).info.status == "RUNNING"
        assert end_dead_process_runs(reopened) == []
    assert spanrun.get_run(run_id).info.status == "FINISHED"
