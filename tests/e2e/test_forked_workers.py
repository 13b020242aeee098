"""Issue 10.2: calls made in multiprocessing workers (fork, spawn) are all kept, outside and
inside runs, although ``with Pool()`` kills its workers as soon as it has their results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

N_CALLS = 30


@pytest.mark.parametrize("where", ["outside", "inside"])
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_every_call_of_a_pool_worker_is_kept(method, where, tracking_uri, openai_server, store):
    script = Path(__file__).with_name("_pool_calls.py")
    env = {
        **os.environ,
        "SPANRUN_TRACKING_URI": tracking_uri,
        "SPANRUN_TEST_BASE_URL": openai_server.base_url,
    }
    done = subprocess.run(
        [sys.executable, str(script), method, where, str(N_CALLS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) >= 1  # worker processes did the calls
    runs = store.search_runs(["0"], max_results=1000)
    calls = sum(int(r.data.metrics.get("llm.calls", 0)) for r in runs)
    assert calls == N_CALLS
    assert len(store.search_traces(max_results=1000)) == N_CALLS
    if where == "inside":
        assert sorted(r.info.run_name for r in runs) == sorted(
            f"worker call {i}" for i in range(N_CALLS)
        )
        assert {r.info.status for r in runs} == {"FINISHED"}
