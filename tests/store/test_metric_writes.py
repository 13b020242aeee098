"""The metric write path: multi-row statements, log_checked_metrics, param re-logging, the
SQLite write connection (fork, close and reopen) and background WAL checkpoints."""

from __future__ import annotations

import functools
import math
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from spanrun.core.entities import Metric, Param
from spanrun.errors import InvalidParamChangeError, InvalidStateError, NotFoundError
from spanrun.store import SqlAlchemyStore, _metric_writes
from tests._fork import in_forked_child


def _run(store: SqlAlchemyStore) -> str:
    return store.create_run("0", "u", 1, [], "r").info.run_id


def test_big_batch_across_statement_sizes(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    # 1,300 rows: two full statements plus power-of-two pieces, with NaN and infinities
    # inside the multi-row statements, and 3 keys.
    values = [float(i) for i in range(1300)]
    values[7], values[600], values[1299] = math.nan, math.inf, -math.inf
    rows = [(f"k{i % 3}", v, 1_000 + i, i) for i, v in enumerate(values)]
    store.log_checked_metrics(run_id, rows)
    for key in ("k0", "k1", "k2"):
        history = store.get_metric_history(run_id, key)
        expected = [v for i, v in enumerate(values) if i % 3 == int(key[1])]
        got = [m.value for m in history]
        assert len(got) == len(expected)
        pairs = zip(got, expected, strict=True)
        assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in pairs)
    latest = store.get_run(run_id).data.metrics
    assert latest["k0"] == -math.inf  # row 1299 has the greatest step
    assert latest["k1"] == 1297.0 and latest["k2"] == 1298.0


def test_latest_value_in_one_batch_and_across_batches(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    rows = [("m", 1.0, 5, 2), ("m", 2.0, 9, 2), ("m", 3.0, 9, 2), ("m", 4.0, 100, 1)]
    store.log_checked_metrics(run_id, rows * 5)  # 20 rows: multi-row statements
    assert store.get_run(run_id).data.metrics["m"] == 3.0  # (2, 9), the later of a tie
    store.log_checked_metrics(run_id, [("m", 9.0, 1, 1)])  # older step: history only
    assert store.get_run(run_id).data.metrics["m"] == 3.0
    store.log_batch(run_id, metrics=[Metric("m", 7.0, 9, 2)])  # tie again: newest wins
    assert store.get_run(run_id).data.metrics["m"] == 7.0
    assert len(store.get_metric_history(run_id, "m")) == 22


def test_checked_metrics_need_an_active_run(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    with pytest.raises(NotFoundError):
        store.log_checked_metrics("0" * 32, [("m", 1.0, 1, 0)])
    store.delete_run(run_id)
    with pytest.raises(InvalidStateError):
        store.log_checked_metrics(run_id, [("m", 1.0, 1, 0)] * 40)
    store.restore_run(run_id)
    assert store.get_metric_history(run_id, "m") == []


def test_relogging_params_same_value_and_changed_value(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, params=[Param("a", "1"), Param("b", "2")])
    store.log_batch(run_id, params=[Param("a", "1"), Param("c", "3")])  # one old, one new
    with pytest.raises(InvalidParamChangeError, match="'b'"):
        store.log_batch(
            run_id, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("d", "4"), Param("b", "x")]
        )
    run = store.get_run(run_id)
    assert run.data.params == {"a": "1", "b": "2", "c": "3"}  # nothing of the failed batch
    assert run.data.metrics == {}


def test_statement_pieces_cover_every_row() -> None:
    for count in (1, 2, 3, 511, 512, 513, 1300, 5000):
        pieces = list(_metric_writes._pieces(count))
        assert sum(size for _, size in pieces) == count
        assert [start for start, _ in pieces] == [
            sum(size for _, size in pieces[:i]) for i in range(len(pieces))
        ]
        assert len({size for _, size in pieces}) <= 11  # few distinct statements


def test_write_connection_survives_close_and_reopen(sqlite_store: SqlAlchemyStore) -> None:
    run_id = _run(sqlite_store)
    sqlite_store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    sqlite_store.close()
    sqlite_store.log_batch(run_id, metrics=[Metric("m", 2.0, 2, 1)])  # reopens
    assert [m.value for m in sqlite_store.get_metric_history(run_id, "m")] == [1.0, 2.0]


def test_background_checkpoints_keep_the_wal_in_check(tmp_path: Path) -> None:
    db = tmp_path / "ckpt.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", str(tmp_path))
    run_id = _run(store)
    for i in range(1200):  # several checkpoint requests (every 256 commits)
        store.log_batch(run_id, metrics=[Metric("m", float(i), i, i)])
    store.close()
    # Everything is in the database file or the WAL, readable by a plain connection.
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 1200
        busy, log_frames, checkpointed = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and checkpointed == log_frames


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_writes_on_its_own_connection(sqlite_store: SqlAlchemyStore) -> None:
    run_id = _run(sqlite_store)
    sqlite_store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])  # opens it in the parent
    child = functools.partial(sqlite_store.log_batch, run_id, metrics=[Metric("m", 2.0, 2, 1)])
    assert in_forked_child(child) == 0
    sqlite_store.log_batch(run_id, metrics=[Metric("m", 3.0, 3, 2)])  # parent still fine
    assert [m.value for m in sqlite_store.get_metric_history(run_id, "m")] == [1.0, 2.0, 3.0]


def test_latest_value_of_a_large_batch_with_few_keys(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    store.log_checked_metrics(run_id, [("m", 50.0, 5, 50)])  # stored latest: step 50
    # 100 rows, one key: the greatest step (60) is in the middle, tied twice on timestamp 7.
    rows = [("m", float(i), 1, i % 40) for i in range(100)]
    rows[30:30] = [("m", -1.0, 7, 60), ("m", -2.0, 7, 60), ("m", -3.0, 6, 60)]
    store.log_checked_metrics(run_id, rows)
    assert store.get_run(run_id).data.metrics["m"] == -2.0
    store.log_checked_metrics(run_id, [("m", float(i), 1, i % 50) for i in range(64)])  # older
    assert store.get_run(run_id).data.metrics["m"] == -2.0
    assert len(store.get_metric_history(run_id, "m")) == 1 + 103 + 64
