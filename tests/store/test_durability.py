"""What a call has returned from survives kill -9 of the process (SQLite, WAL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spanrun.store import SqlAlchemyStore

_CHILD = textwrap.dedent(
    """
    import sys
    from spanrun.store import SqlAlchemyStore
    from spanrun.core.entities import Metric, Param

    store = SqlAlchemyStore(sys.argv[1], sys.argv[2])
    run_id = store.create_run("0", "u", 1, [], "victim").info.run_id
    print(run_id, flush=True)
    i = 0
    while True:
        store.log_batch(run_id, metrics=[Metric("m", float(i), i, i)], params=[Param(f"p{i}", "x")])
        print(i, flush=True)  # only after log_batch returned
        i += 1
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_logged_values_survive_kill_9(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'crash.db'}"
    SqlAlchemyStore(uri, str(tmp_path)).close()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, uri, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    last = -1
    while last < 150:
        line = child.stdout.readline()
        assert line, "child exited early"
        last = int(line)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    child.stdout.close()

    store = SqlAlchemyStore(uri, str(tmp_path))
    history = store.get_metric_history(run_id, "m")
    # Everything reported as returned is there (the child may have got further before the kill
    # than the lines read so far), in order and without holes.
    assert len(history) >= last + 1
    assert [h.value for h in history] == [float(i) for i in range(len(history))]
    params = store.get_run(run_id).data.params
    assert all(f"p{i}" in params for i in range(last + 1))
    store.close()
