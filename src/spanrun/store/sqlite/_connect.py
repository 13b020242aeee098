"""Opening a stdlib ``sqlite3`` connection configured the way every spanrun connection is.

One definition for both stores: ``SqlAlchemyStore``'s engine calls :func:`configure` from its
connect hook, and ``SqliteDatabase`` calls :func:`connect`. See ``_engine.py`` for why
(WAL, ``synchronous=NORMAL``, a 60 s busy timeout, ``BEGIN IMMEDIATE`` for writes).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from spanrun.store.sqlite._ddl import PLANNER_STATS

__all__ = ["BUSY_TIMEOUT_S", "CACHE_KIB", "configure", "connect", "seed_planner_stats"]

BUSY_TIMEOUT_S = 60
CACHE_KIB = 16 * 1024


def configure(conn: sqlite3.Connection, *, memory: bool = False) -> None:
    """Set the PRAGMAs of a new connection (WAL and ``synchronous`` only for files)."""
    # Take transaction control away from the sqlite3 module: it would begin deferred
    # transactions on its own. Callers emit BEGIN / BEGIN IMMEDIATE themselves.
    conn.isolation_level = None
    cur = conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys = ON")
        if not memory:
            # Up to 16 MiB of pages kept per connection (SQLite's default is 2 MiB): a search
            # over 10,000 runs touches ~8 MiB, and re-reading it from the OS cost it ~30%.
            cur.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
    finally:
        cur.close()


def connect(path: str) -> sqlite3.Connection:
    """A configured connection to the SQLite file ``path`` (usable from any thread)."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        configure(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def seed_planner_stats(cursor: Any) -> None:
    """Give a new database planner statistics (once; never over real ANALYZE results).

    Runs inside the caller's transaction on a DBAPI cursor.
    """
    cursor.execute("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
    if cursor.execute("SELECT COUNT(*) FROM sqlite_stat1").fetchone()[0]:
        return
    cursor.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", PLANNER_STATS)
    cursor.execute("ANALYZE sqlite_schema")  # reload the statistics
