"""SQLite engine setup: WAL, busy timeout, foreign keys, and write transactions that lock early.

Durability: with ``journal_mode=WAL`` and ``synchronous=NORMAL`` every committed transaction
survives a crash of the process (kill -9), because the WAL file is written before the commit
returns. A power loss or OS crash may lose the last transactions committed since the most recent
checkpoint or WAL sync (the database itself stays consistent, never corrupt).

Concurrency: a deferred SQLite transaction that reads first and then writes cannot wait for the
write lock (it fails at once with "database is locked"). So every write transaction here starts
with ``BEGIN IMMEDIATE``, which takes the write lock up front and waits up to the busy timeout
for it. Reads use a plain ``BEGIN`` and never block writers under WAL.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

__all__ = [
    "BUSY_TIMEOUT_S",
    "WRITE_OPTION",
    "create_sqlite_engine",
    "is_memory_url",
    "seed_planner_stats",
]

BUSY_TIMEOUT_S = 60
# Execution option that makes the next transaction on a connection a write transaction.
WRITE_OPTION = "spanrun_write"


def is_memory_url(url: sa.URL) -> bool:
    return url.database in (None, "", ":memory:")


def create_sqlite_engine(url: sa.URL) -> sa.Engine:
    """Create an engine on a SQLite file (or in-memory database) configured as described above."""
    memory = is_memory_url(url)
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
    }
    if memory:
        # One shared connection, or every connection would see its own empty database.
        kwargs["poolclass"] = StaticPool
    else:
        # Connections are cheap; allow many threads without waiting on the pool.
        kwargs.update(pool_size=8, max_overflow=56, pool_timeout=BUSY_TIMEOUT_S)
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Take transaction control away from the sqlite3 module: it would begin deferred
        # transactions on its own. We emit BEGIN ourselves in _on_begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            cur.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


# Typical-shape statistics for SQLite's query planner ("table", "index", "stat" rows as ANALYZE
# would write them). Without any statistics SQLite may scan a metric range before an exact
# param match, several times slower on 10k runs. Real ANALYZE results replace these.
_PLANNER_STATS = (
    ("runs", "sqlite_autoindex_runs_1", "10000 1"),
    ("runs", "ix_runs_experiment_start", "10000 2000 2000 1"),
    ("params", "sqlite_autoindex_params_1", "50000 5 1"),
    ("params", "ix_params_key_value", "50000 5000 50 1"),
    ("tags", "sqlite_autoindex_tags_1", "50000 5 1"),
    ("tags", "ix_tags_key_value", "50000 5000 50 1"),
    ("latest_metrics", "latest_metrics", "50000 5 1"),  # WITHOUT ROWID: the table is its key
    ("metrics", "ix_metrics_run_key_step", "500000 50 10 2 1"),
)


def seed_planner_stats(conn: sa.Connection) -> None:
    """Give a new database planner statistics (once; never over real ANALYZE results)."""
    conn.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
    if conn.exec_driver_sql("SELECT COUNT(*) FROM sqlite_stat1").scalar():
        return
    conn.exec_driver_sql(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", list(_PLANNER_STATS)
    )
    conn.exec_driver_sql("ANALYZE sqlite_schema")  # reload the statistics
