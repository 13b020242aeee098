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

from spanrun.store.sqlite._connect import BUSY_TIMEOUT_S, configure
from spanrun.store.sqlite._connect import seed_planner_stats as seed_raw

__all__ = [
    "BUSY_TIMEOUT_S",
    "WRITE_OPTION",
    "create_sqlite_engine",
    "is_memory_url",
    "seed_planner_stats",
]

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
        configure(dbapi_conn, memory=memory)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def seed_planner_stats(conn: sa.Connection) -> None:
    """Give a new database planner statistics (once; never over real ANALYZE results)."""
    cursor = conn.connection.cursor()  # the DBAPI cursor of the same transaction
    try:
        seed_raw(cursor)
    finally:
        cursor.close()
