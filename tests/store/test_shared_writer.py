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
    writers = {id(fluent._db._writer), id(export._writer)}  # type: ignore[attr-defined]
    assert len(writers) == 1

    # Threads of both stores queue on the one connection; nothing is lost.
    def log(store, key):
        for step in range(50):
            store.log_batch(run.info.run_id, metrics=[Metric(key, float(step), 1, step)])

    threads = [threading.Thread(target=log, args=(s, k)) for s, k in ((fluent, "a"), (export, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fluent.get_metric_history(run.info.run_id, "a")) == 50
    assert len(fluent.get_metric_history(run.info.run_id, "b")) == 50


def test_closing_one_store_keeps_the_other_writing(tmp_path):
    from spanrun.store.sqlite._store import DirectSqliteStore

    path = tmp_path / "two.db"
    first = DirectSqliteStore(path, str(tmp_path / "artifacts"))
    second = DirectSqliteStore(path, str(tmp_path / "artifacts"))
    run = first.create_run("0", "u", 1, [], "r")
    assert first._writer is second._writer or second._writer is None
    first.close()
    second.update_run_info(run.info.run_id, status="FINISHED", end_time=2)
    assert second.get_run(run.info.run_id).info.status == "FINISHED"
    second.close()
