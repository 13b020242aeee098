"""10,000 autologged calls in a process that then exits normally: nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spanrun.store.base import Store
from spanrun.testing.openai_server import OpenAIServer

from ._helpers import predictions

N_CALLS = 10_000


def count_traces(store: Store, run_id: str) -> int:
    total, token = 0, None
    while True:
        page = store.search_traces(run_id=run_id, max_results=1000, page_token=token)
        total += len(page)
        token = page.token
        if not token:
            return total


@pytest.mark.slow
def test_ten_thousand_calls_then_normal_exit(store, tracking_uri, openai_server: OpenAIServer):
    env = {**os.environ, "SPANRUN_TRACKING_URI": tracking_uri}
    script = Path(__file__).with_name("_many_calls.py")
    done = subprocess.run(
        [sys.executable, str(script), openai_server.base_url, str(N_CALLS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "dropped" not in done.stderr

    (run,) = store.search_runs(["0"])
    assert run.info.status == "FINISHED"  # the session run, ended at exit
    assert run.info.run_name == "_many_calls"
    assert run.data.metrics["llm.calls"] == N_CALLS
    steps = [m.step for m in store.get_metric_history(run.info.run_id, "llm.calls")]
    assert steps == list(range(N_CALLS))
    rows = predictions(store, run.info.run_id)
    assert len(rows) == N_CALLS
    assert sorted(rows["inputs"]) == sorted(f"q{i}" for i in range(N_CALLS))
    assert rows["span_id"].is_unique
    assert count_traces(store, run.info.run_id) == N_CALLS
