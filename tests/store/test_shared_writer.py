"""One write connection per SQLite file and process (issue 11): autolog's exporter store and the
fluent API's store on the same file share it, and closing one store leaves the other working."""

from __future__ import annotations

import threading

from spanrun.core.entities import Metric
from spanrun.store import get_export_store, get_store


def test_both_stores_on_one_file_write_through_one_connection(tmp_path):
    uri = f"sqlite:///{tmp_path / 'one.db'}"
    fluent, export = get_store(uri), get_export_store(uri)
    assert fluent is not export
    run = export.create_run("0", "u", 1, [], "exporter's")
    fluent.log_batch(run.info.run_id, metrics=[Metric("m", 1.0, 1, 0)])
    writers = {id(fluent._db._writer), id(export.database._writer)}  # type: ignore[attr-defined]
    assert len(writers) == 1

    # Threads of both stores queue on the one connection; nothing is lost.
    def log_fluent():
        for step in range(50):
            fluent.log_batch(run.info.run_id, metrics=[Metric("a", float(step), 1, step)])

    def log_export():
        for step in range(50):
            export.log_export_batch({run.info.run_id: ([("b", float(step), 1, step)], {}, {})})

    threads = [threading.Thread(target=log_fluent), threading.Thread(target=log_export)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fluent.get_metric_history(run.info.run_id, "a")) == 50
    assert len(fluent.get_metric_history(run.info.run_id, "b")) == 50


def test_closing_one_store_keeps_the_other_writing(tmp_path):
    from spanrun.store._run_writer import SqlRunWriter
    from spanrun.store.sqlite._database import SqliteDatabase

    path = tmp_path / "two.db"
    first = SqlRunWriter(SqliteDatabase(path, str(tmp_path / "artifacts")))
    second = SqlRunWriter(SqliteDatabase(path, str(tmp_path / "artifacts")))
    run = first.create_run("0", "u", 1, [], "r")
    assert first.database._writer is second.database._writer or second.database._writer is None
    first.close()
    second.update_run_info(run.info.run_id, status="FINISHED", end_time=2)
    assert second.get_run(run.info.run_id).info.status == "FINISHED"
    second.close()


def test_writes_of_other_processes_wait_on_the_file_lock(tmp_path):
    """Another process holding ``<file>-writelock`` keeps this process's write waiting (on
    ``flock``, not in SQLite's sleeping busy handler); released, the write goes through at once."""
    import fcntl
    import os
    import subprocess
    import sys
    import time

    path = tmp_path / "locked.db"
    store = get_export_store(f"sqlite:///{path}")
    run = store.create_run("0", "u", 1, [], "r")
    lock_file = f"{os.path.realpath(path)}-writelock"
    assert os.path.exists(lock_file)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
            lock_file,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done = threading.Event()

        def write() -> None:
            store.log_export_batch({run.info.run_id: ([("m", 1.0, 1, 0)], {}, {})})
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        assert not done.wait(0.5), "the write did not wait for the other process's lock"
        released = time.monotonic()
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits: its lock goes with it
        assert done.wait(10)
        assert time.monotonic() - released < 2
        thread.join()
    finally:
        holder.kill()
        holder.wait()
    with open(lock_file) as f:  # nobody holds it now
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert get_store(f"sqlite:///{path}").get_metric_history(run.info.run_id, "m")[0].value == 1.0


def test_the_write_connection_has_a_larger_page_cache(tmp_path):
    from spanrun.store.sqlite import _connect

    store = get_export_store(f"sqlite:///{tmp_path / 'cache.db'}")
    store.create_run("0", "u", 1, [], "r")
    writer = store.database._writer  # type: ignore[attr-defined]
    size = writer.run(lambda cursor: cursor.execute("PRAGMA cache_size").fetchone()[0])
    assert size == -_connect.CACHE_KIB < -2000  # SQLite's default: -2000
