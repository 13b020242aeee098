"""Many writers at once: 8 processes x 4 threads on one SQLite file, and param races."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from spanrun.core.entities import Metric, Param, RunTag
from spanrun.errors import InvalidParamChangeError
from spanrun.store import SqlAlchemyStore

PROCESSES = 8
THREADS = 4
CALLS = 40  # per thread


def _worker(uri: str, artifacts: str, proc: int, barrier: object, errors: object) -> None:
    """Open the (possibly brand-new) store together with the other processes, then log."""
    try:
        barrier.wait()  # type: ignore[attr-defined]
        store = SqlAlchemyStore(uri, artifacts)  # concurrent first open: migrations race
        run_id = store.create_run("0", "u", proc, [], f"p{proc}").info.run_id

        def thread_body(t: int) -> None:
            for i in range(CALLS):
                store.log_batch(
                    run_id,
                    metrics=[Metric(f"m{t}", float(i), 1_000 + i, i)],
                    params=[Param(f"p{t}_{i}", str(i)), Param("shared", "same")],
                    tags=[RunTag(f"t{t}", str(i))],
                )

        with ThreadPoolExecutor(THREADS) as pool:
            for future in [pool.submit(thread_body, t) for t in range(THREADS)]:
                future.result()
        store.close()
    except BaseException:
        errors.put(traceback.format_exc())  # type: ignore[attr-defined]


def test_processes_and_threads_share_one_sqlite_file(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"  # does not exist yet
    ctx = mp.get_context("spawn")  # fresh interpreters: nothing inherited
    barrier = ctx.Barrier(PROCESSES)
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(uri, str(tmp_path), p, barrier, errors))
        for p in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert reported == []
    assert [p.exitcode for p in procs] == [0] * PROCESSES

    store = SqlAlchemyStore(uri, str(tmp_path))
    runs = store.search_runs(["0"], max_results=100)
    assert sorted(r.info.run_name for r in runs) == sorted(f"p{p}" for p in range(PROCESSES))
    for run in runs:
        assert len(run.data.params) == THREADS * CALLS + 1
        assert run.data.metrics == {f"m{t}": float(CALLS - 1) for t in range(THREADS)}
        assert {k: v for k, v in run.data.tags.items() if k.startswith("t")} == {
            f"t{t}": str(CALLS - 1) for t in range(THREADS)
        }
        for t in range(THREADS):
            history = store.get_metric_history(run.info.run_id, f"m{t}")
            assert [h.value for h in history] == [float(i) for i in range(CALLS)]
    store.close()


def test_racing_writers_of_one_param(store: SqlAlchemyStore) -> None:
    """Threads add the same new param with different values: exactly one wins, the others get
    InvalidParamChangeError (never a database error), on both backends."""
    run_id = store.create_run("0", "u", 1, [], "race").info.run_id
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def write(value: int) -> None:
        start.wait()
        try:
            store.log_batch(run_id, params=[Param("contested", str(value))])
            outcomes.append("ok")
        except InvalidParamChangeError:
            outcomes.append("changed")
        except Exception as e:  # any other error is a failure of the store
            outcomes.append(repr(e))

    threads = [threading.Thread(target=write, args=(v,)) for v in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["changed"] * 5 + ["ok"]
    winner = store.get_run(run_id).data.params["contested"]
    assert winner in {str(v) for v in range(6)}


def test_writer_waits_for_a_held_lock(tmp_path: Path) -> None:
    """Another process-like connection holds the write lock for a while: writes wait for it
    instead of failing with "database is locked", and reads go on meanwhile (WAL)."""
    db = tmp_path / "locked.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", str(tmp_path))
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO tags (run_id, key, value) VALUES (?, 'held', 'x')", (run_id,))
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        assert store.get_run(run_id).info.run_name == "r"  # a read is not blocked
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1)], params=[Param("p", "1")])
    finally:
        release.join()
        holder.close()
    data = store.get_run(run_id).data
    assert data.metrics == {"m": 1.0} and data.params == {"p": "1"} and data.tags["held"] == "x"
    store.close()
