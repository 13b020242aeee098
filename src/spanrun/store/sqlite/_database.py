"""``SqliteDatabase``: transactions on a SQLite file with the stdlib ``sqlite3`` module, for
the run writer of autolog's exporter.

``spanrun.autolog()`` must stay light in the user's process, and SQLAlchemy alone costs ~12 MB
of RSS. The exporter writes through a ``SqlRunWriter`` (``spanrun.store._run_writer``) on one of
these:

- opening builds a new database from the static DDL of ``_ddl`` (stamped at
  ``SCHEMA_VERSION``, planner statistics seeded, the Default experiment created), exactly what
  ``SqlAlchemyStore`` builds; a database at another revision is handed to ``migrate`` (a
  ``SqlAlchemyStore`` of the same file, which migrates it, or refuses a newer one);
- writes run on the process's shared ``WriteConnection`` of the file (``BEGIN IMMEDIATE``,
  background WAL checkpoints), the same one every ``SqlAlchemyStore`` of the file writes
  through, with the shared retry of ``_retry``; reads on a connection of its own;
- a file deleted or replaced while open is noticed (one ``stat`` per export batch) and
  reopened.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from spanrun.store._common import ACTIVE, now_ms, reset_in_forked_child, to_uri
from spanrun.store._retry import is_transient, retry_read, retry_write
from spanrun.store.base import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME
from spanrun.store.sqlite._connect import connect, seed_planner_stats
from spanrun.store.sqlite._ddl import SCHEMA_VERSION, SQLITE_DDL
from spanrun.store.sqlite._write_connection import WriteConnection, shared_write_connection
from spanrun.store.sqlite._write_connection import _inherited as _inherited_connections

_log = logging.getLogger(__name__)

__all__ = ["SqliteDatabase"]

T = TypeVar("T")

_QUICK_CHECK = (
    "SELECT version_num, "
    "(SELECT COUNT(*) FROM experiments WHERE experiment_id = 0) AS has_default "
    "FROM alembic_version"
)


def _file_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class SqliteDatabase:
    """Transactions on the SQLite file ``path`` (see the module docstring).

    ``artifact_root`` is the Default experiment's artifact root when this builds the database;
    ``migrate`` brings a database at another schema revision to the current one (default: a
    ``SqlAlchemyStore`` of the file, made and closed here).
    """

    dialect = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        artifact_root: str,
        migrate: Callable[[], object] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.artifact_root = to_uri(artifact_root)
        self._migrate = migrate
        self._writer: WriteConnection | None = None  # the file's shared one, on first write
        self._init_read_state()
        reset_in_forked_child(self)
        self._ensure_schema()
        self._file_id = _file_id(self.path)  # what reopen_if_replaced compares with
        self._reopen_lock = threading.Lock()

    def _init_read_state(self) -> None:
        self._read_lock = threading.Lock()
        self._read_conn: sqlite3.Connection | None = None
        self._read_pid = -1

    # -- opening ---------------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        """As ``_migrate.ensure_schema``: one query when the database is ready, else build it
        (new) or let a SqlAlchemyStore migrate it (older), under the write lock."""
        if self.read_raw(self._is_ready):
            return
        if not self.write_raw(self._build_or_initialize):
            self._migrate_schema()

    @staticmethod
    def _is_ready(cursor: sqlite3.Cursor) -> bool:
        try:
            row = cursor.execute(_QUICK_CHECK).fetchone()
        except sqlite3.OperationalError as e:
            if is_transient(e):
                raise
            return False  # no tables yet
        return row is not None and row[0] == SCHEMA_VERSION and bool(row[1])

    def _build_or_initialize(self, cursor: sqlite3.Cursor) -> bool:
        """Build a new database or initialise a current one; False: it needs a migration."""
        tables = {
            r[0]
            for r in cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if not tables:
            # Alembic's recipe for new databases, as _migrate._create_fresh: build, then stamp.
            for statement in SQLITE_DDL:
                cursor.execute(statement)
            cursor.execute(
                "INSERT INTO alembic_version (version_num) VALUES (?)", (SCHEMA_VERSION,)
            )
        elif "alembic_version" not in tables:
            return False
        else:
            row = cursor.execute("SELECT version_num FROM alembic_version").fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                return False
        seed_planner_stats(cursor)
        if (
            cursor.execute(
                "SELECT 1 FROM experiments WHERE experiment_id = ?", (int(DEFAULT_EXPERIMENT_ID),)
            ).fetchone()
            is None
        ):
            now = now_ms()
            cursor.execute(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    int(DEFAULT_EXPERIMENT_ID),
                    DEFAULT_EXPERIMENT_NAME,
                    f"{self.artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                    ACTIVE,
                    now,
                    now,
                ),
            )
        return True

    # -- transactions ----------------------------------------------------------------------
    def write_raw(self, fn: Callable[[Any], T], *, retry_integrity: bool = False) -> T:
        """``fn(cursor)`` in a ``BEGIN IMMEDIATE`` transaction on the write connection,
        retried and translated as ``Database.write_raw``."""
        writer = self._writer
        if writer is None:
            writer = self._writer = shared_write_connection(self.path)
        return retry_write(functools.partial(writer.run, fn), retry_integrity=retry_integrity)

    def read_raw(self, fn: Callable[[Any], T]) -> T:
        """``fn(cursor)`` in a read transaction (one snapshot) on this store's read connection."""
        return retry_read(functools.partial(self._read_once, fn))

    def _read_once(self, fn: Callable[[sqlite3.Cursor], T]) -> T:
        with self._read_lock:
            conn = self._read_conn
            if conn is None or self._read_pid != os.getpid():
                conn = self._read_conn = connect(self.path)
                self._read_pid = os.getpid()
            cursor = conn.cursor()
            try:
                cursor.execute("BEGIN")
                return fn(cursor)
            finally:
                try:
                    if conn.in_transaction:  # a read: ending it either way keeps nothing
                        conn.rollback()
                except sqlite3.Error:  # state unknown: never reuse it
                    self._read_conn = None
                    with contextlib.suppress(Exception):
                        conn.close()
                cursor.close()

    def _migrate_schema(self) -> None:
        if self._migrate is not None:
            self._migrate()
            return
        from spanrun.store._sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(f"sqlite:///{self.path}", self.artifact_root).close()  # opening migrates

    # -- lifecycle -------------------------------------------------------------------------
    def reopen_if_replaced(self) -> bool:
        """Reopen (creating it, and its folder, anew) a database file deleted or replaced while
        open: SQLite would go on writing into the deleted file, and every later call would be
        lost without a word. One ``stat`` when nothing happened."""
        if _file_id(self.path) == self._file_id:
            return False
        with self._reopen_lock:
            if _file_id(self.path) == self._file_id:
                return False  # another thread reopened it meanwhile
            _log.warning(
                "spanrun: the database %s was deleted or replaced while in use; spanrun opens "
                "the one there now (creating it when missing) and goes on logging into it. "
                "What was in the old file is not in the new one.",
                self.path,
            )
            # The write connection is shared with the other stores on this file: reconnected,
            # not closed.
            if self._writer is not None:
                self._writer.reconnect()
            self._close_reads()
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._ensure_schema()
            self._file_id = _file_id(self.path)
        return True

    def close(self) -> None:
        writer, self._writer = self._writer, None  # taken again by the next write
        if writer is not None:
            writer.close()
        self._close_reads()

    def _close_reads(self) -> None:
        with self._read_lock:
            conn, self._read_conn, self._read_pid = self._read_conn, None, -1
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def _after_fork_in_child(self) -> None:
        # The parent's connections must not be used (or closed) by the child.
        if self._writer is not None:
            self._writer.after_fork_in_child()
        if self._read_conn is not None:
            _inherited_connections.append(self._read_conn)
        self._init_read_state()
        self._reopen_lock = threading.Lock()
