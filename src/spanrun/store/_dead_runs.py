"""Ending the RUNNING runs of processes that are gone (killed, crashed, machine rebooted).

A process that dies without running its exit handlers (SIGKILL, OOM killer, power loss) leaves
its runs RUNNING. The runs spanrun starts for a process carry the ``spanrun.process`` tag
(``spanrun.core.process``); the first time a process opens a store (``_registry``), RUNNING runs
whose recorded process on this host is certainly gone are ended: status KILLED, ``end_time``
their latest recorded activity, and the tag ``spanrun.end_reason=process_gone``.

Cheap by design: one query for the RUNNING runs and their process tags (a scan of the runs
table, about 1 ms per 10,000 runs on SQLite; tags are read by primary key for RUNNING runs
only); it writes only when it found runs to end. It never raises: a failure is logged and
the next process to open the store tries again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from spanrun.core.process import PROCESS_TAG, current_process, process_gone
from spanrun.store.sqlite._connect import connect

if TYPE_CHECKING:
    import sqlalchemy as sa

    from spanrun.store.base import RunWriter

__all__ = ["END_REASON_TAG", "end_dead_process_runs", "end_dead_runs_once", "forget_swept"]

_log = logging.getLogger(__name__)

#: Set on the runs ended here, so that they are told from runs a user ended as KILLED.
END_REASON_TAG = "spanrun.end_reason"
PROCESS_GONE = "process_gone"
# A sweep waits this long for SQLite's write lock, then gives up until the next process.
_LOCK_WAIT_MS = 2_000

# The RUNNING runs, then each one's process tag by primary key. A scan of the runs table (no
# index has status first; about 1 ms per 10,000 runs on SQLite) beats the (key, value) tag
# index, which would visit every run this host ever made (13 ms per 10,000). SQLite: CROSS
# JOIN fixes that order. Only this host's tags count (substr: exact on any collation).
_CANDIDATES = """SELECT r.run_id, t.value FROM runs r {join} tags t
ON t.run_id = r.run_id AND t."key" = :key
WHERE r.status = 'RUNNING' AND substr(t.value, 1, :n) = :prefix"""
# The run's latest sign of life: its start, its latest metric (LLM calls keep theirs current),
# the end of its latest trace; each an index lookup.
_LATEST_ACTIVITY = """SELECT MAX(v) FROM (
  SELECT start_time AS v FROM runs WHERE run_id = :run_id
  UNION ALL SELECT MAX("timestamp") AS v FROM latest_metrics WHERE run_id = :run_id
  UNION ALL SELECT (SELECT end_time_ns FROM traces WHERE run_id = :run_id
                    ORDER BY start_time_ns DESC LIMIT 1) / 1000000 AS v
) AS activity"""
# Only while the run is still RUNNING with the process read above: a run resumed meanwhile by
# a live process carries that process's tag.
_END = """UPDATE runs SET status = 'KILLED', end_time = :end_time
WHERE run_id = :run_id AND status = 'RUNNING' AND EXISTS (
  SELECT 1 FROM tags WHERE run_id = :run_id AND "key" = :key AND value = :value)"""
_REASON = """INSERT INTO tags (run_id, "key", value) VALUES (:run_id, :reason_key, :reason)
ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value"""

# Databases swept by this process (SQLite paths, PostgreSQL URLs); a forked child sweeps again.
_swept: set[str] = set()
_swept_lock = threading.Lock()


def _params(prefix: str) -> dict[str, Any]:
    return {"key": PROCESS_TAG, "prefix": prefix, "n": len(prefix)}


def _end_params(run_id: str, value: str, end_time: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    end = min(int(end_time), now) if end_time is not None else now
    return {
        "run_id": run_id,
        "end_time": end,
        "key": PROCESS_TAG,
        "value": value,
        "reason_key": END_REASON_TAG,
        "reason": PROCESS_GONE,
    }


def _dead(rows: Sequence[Sequence[Any]]) -> list[tuple[str, str]]:
    here = current_process()
    return [(str(run_id), str(value)) for run_id, value in rows if process_gone(str(value), here)]


def _sweep_sqlite(path: str) -> list[str]:
    # A connection of its own: the stores' connections stay theirs (and this works the same
    # under the SQLAlchemy store and the exporter's stdlib one).
    conn = connect(path)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_LOCK_WAIT_MS}")
        prefix = current_process().host + ":"
        sql = _CANDIDATES.format(join="CROSS JOIN")
        dead = _dead(conn.execute(sql, _params(prefix)).fetchall())
        if not dead:
            return []
        ended = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for run_id, value in dead:
                (latest,) = conn.execute(_LATEST_ACTIVITY, {"run_id": run_id}).fetchone()
                if conn.execute(_END, _end_params(run_id, value, latest)).rowcount == 1:
                    conn.execute(_REASON, _end_params(run_id, value, latest))
                    ended.append(run_id)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return ended
    finally:
        conn.close()


def _sweep_engine(engine: sa.Engine) -> list[str]:
    import sqlalchemy as sa

    prefix = current_process().host + ":"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(_CANDIDATES.format(join="JOIN")), _params(prefix)).all()
    dead = _dead(rows)
    ended = []
    if dead:
        with engine.begin() as conn:
            for run_id, value in dead:
                latest = conn.execute(sa.text(_LATEST_ACTIVITY), {"run_id": run_id}).scalar()
                params = _end_params(run_id, value, latest)
                if conn.execute(sa.text(_END), params).rowcount == 1:
                    conn.execute(sa.text(_REASON), params)
                    ended.append(run_id)
    return ended


def _target(store: RunWriter) -> tuple[str, Callable[[], list[str]]] | None:
    """(database key, sweep) for the SQL stores; None for others (in-memory, REST)."""
    path = getattr(store, "path", None)  # the exporter's SqlRunWriter on a SqliteDatabase
    if isinstance(path, str):
        return path, lambda: _sweep_sqlite(path)
    engine = getattr(store, "engine", None)  # SqlAlchemyStore
    if engine is None:
        return None
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None  # in-memory: no other process could have used it
        return database, lambda: _sweep_sqlite(database)
    return url.render_as_string(hide_password=False), lambda: _sweep_engine(engine)


def _sweep(target: tuple[str, Callable[[], list[str]]]) -> list[str]:
    try:
        ended = target[1]()
    except Exception:
        _log.warning("spanrun: could not end the runs of killed processes", exc_info=True)
        return []
    if ended:
        _log.info(
            "spanrun: ended %d runs of processes that are gone as KILLED: %s",
            len(ended),
            ", ".join(ended),
        )
    return ended


def end_dead_process_runs(store: RunWriter) -> list[str]:
    """End as KILLED the RUNNING runs of ``store`` whose process on this host is gone.

    Returns the ids of the runs it ended. Never raises (a failure is logged).
    """
    try:
        target = _target(store)
    except Exception:
        _log.warning("spanrun: could not end the runs of killed processes", exc_info=True)
        return []
    return [] if target is None else _sweep(target)


def end_dead_runs_once(store: RunWriter) -> None:
    """:func:`end_dead_process_runs`, the first time this process opens ``store``'s database."""
    try:
        target = _target(store)
    except Exception:
        _log.warning("spanrun: could not end the runs of killed processes", exc_info=True)
        return
    if target is None:
        return
    with _swept_lock:
        if target[0] in _swept:
            return
        _swept.add(target[0])
    _sweep(target)


def forget_swept() -> None:
    """Let the next opening of each database sweep again (``clear_store_cache``)."""
    with _swept_lock:
        _swept.clear()


def _after_fork_in_child() -> None:
    # A new process: it sweeps again (cheap), and the lock may have been held at fork time.
    global _swept_lock
    _swept_lock = threading.Lock()
    _swept.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
