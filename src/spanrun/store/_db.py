"""Engine, transactions with bounded retry, and error translation for the SQL store."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from spanrun.errors import MissingDependencyError, SpanrunError, StoreError
from spanrun.store._retry import MAX_ATTEMPTS, retry_write
from spanrun.store._retry import Disconnected as _Disconnected
from spanrun.store._retry import backoff as _backoff
from spanrun.store._retry import is_transient as _is_transient
from spanrun.store.sqlite._engine import WRITE_OPTION, create_sqlite_engine, is_memory_url
from spanrun.store.sqlite._write_connection import WriteConnection, shared_write_connection

__all__ = ["Database"]

T = TypeVar("T")
_log = logging.getLogger(__name__)


class Database:
    """One engine plus helpers that run a function inside a (retried) transaction."""

    def __init__(self, url: sa.URL) -> None:
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        self.url = url
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = create_sqlite_engine(url)
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            insert: Callable[[sa.Table], Any] = sqlite_insert
        elif self.dialect == "postgresql":
            try:
                import psycopg  # noqa: F401
            except ImportError as e:
                raise MissingDependencyError(
                    "PostgreSQL needs psycopg 3: pip install 'spanrun[postgres]'"
                ) from e
            # No pre-ping (a round trip per checkout): dropped connections are retried instead.
            self.engine = sa.create_engine(url, pool_size=8, max_overflow=24)
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            insert = pg_insert
        else:  # get_store rejects other schemes first
            raise StoreError(f"Unsupported database {self.dialect!r}")
        # Dialect-specific INSERT with on_conflict_do_update/do_nothing (same API on both).
        self.insert = insert
        self._dbapi: Any = self.engine.dialect.loaded_dbapi
        # In-memory SQLite has one shared connection (StaticPool): it stays on the pool.
        # A SQLite file's writes go through the process's one write connection to it.
        self._sqlite_path = (
            str(url.database) if self.dialect == "sqlite" and not is_memory_url(url) else None
        )
        self._writer: WriteConnection | None = None
        # Hot-path statements are compiled once to SQL text with named parameters and run on
        # the DBAPI cursor: this skips most of SQLAlchemy's per-execution work.
        self._raw_dialect: sa.Dialect = (
            sqlite_dialect(paramstyle="named") if self.dialect == "sqlite" else self.engine.dialect
        )

    def compile(self, stmt: sa.Executable, column_keys: Sequence[str] | None = None) -> str:
        """SQL text of ``stmt`` for :meth:`write_raw`, with ``:name`` / ``%(name)s`` params."""
        return str(
            stmt.compile(  # type: ignore[attr-defined]
                dialect=self._raw_dialect, column_keys=list(column_keys or ())
            )
        )

    def compile_positional(self, stmt: sa.Executable, columns: Sequence[str]) -> str:
        """SQL text of ``stmt`` taking positional parameters in ``columns`` order (tuples)."""
        if self.dialect == "sqlite":
            dialect: sa.Dialect = sqlite_dialect(paramstyle="qmark")
        else:
            # Imported here: SQLite users need not load PostgreSQL's dialect.
            from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

            dialect = psycopg_dialect(paramstyle="format")  # type: ignore[no-untyped-call]
        compiled: Any = stmt.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=list(columns)
        )
        if list(compiled.positiontup) != list(columns):  # pragma: no cover - a coding error
            raise AssertionError(f"parameters {compiled.positiontup} differ from {columns}")
        return str(compiled)

    def write_raw(self, fn: Callable[[Any], T], *, retry_integrity: bool = False) -> T:
        """Like :meth:`write`, but ``fn`` gets a DBAPI cursor (for SQL from :meth:`compile`).

        On a SQLite file this runs on the process's dedicated write connection (see
        ``_sqlite_writer``); elsewhere on a pooled connection.
        """
        writer = self._writer
        if writer is None and self._sqlite_path is not None:
            writer = self._writer = shared_write_connection(self._sqlite_path)
        attempt: Callable[[], T] = (
            functools.partial(writer.run, fn)
            if writer is not None
            else functools.partial(self._run_pooled, fn)
        )
        return retry_write(
            attempt,
            dbapi=self._dbapi,
            retry_integrity=retry_integrity,
            other_errors=(sa_exc.SQLAlchemyError,),
        )

    def _run_pooled(self, fn: Callable[[Any], T]) -> T:
        """One attempt of ``fn(cursor)`` in a transaction on a connection from the pool."""
        conn: Any = self.engine.raw_connection()
        cursor: Any = None
        try:
            cursor = conn.cursor()
            if self.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            result = fn(cursor)
            conn.commit()
            return result
        except BaseException as e:
            with contextlib.suppress(Exception):
                conn.rollback()
            if isinstance(e, self._dbapi.Error) and self.engine.dialect.is_disconnect(
                e, conn.dbapi_connection, cursor
            ):
                conn.invalidate(e)
                raise _Disconnected from e
            raise
        finally:
            if cursor is not None:
                with contextlib.suppress(Exception):
                    cursor.close()
            conn.close()

    def write(self, fn: Callable[[sa.Connection], T], *, retry_integrity: bool = False) -> T:
        """Run ``fn(conn)`` in a write transaction; commit, or roll back everything on error.

        Lock timeouts, deadlocks and serialization failures are retried a bounded number of
        times; ``retry_integrity`` also retries unique-key races (e.g. two writers adding the
        same param at once: the retry then sees the committed row).
        """
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{WRITE_OPTION: True})
                    with conn.begin():
                        return fn(conn)
            except SpanrunError:
                raise
            except sa_exc.IntegrityError as e:
                if retry_integrity and attempt < 2:
                    continue
                raise StoreError(f"Database integrity error: {e.orig}") from e
            except sa_exc.DBAPIError as e:
                if _is_transient(e) and attempt < MAX_ATTEMPTS - 1:
                    _log.debug("retrying transaction after %s", e.orig)
                    _backoff(attempt)
                    continue
                raise StoreError(f"Database error: {e.orig}") from e
            except sa_exc.SQLAlchemyError as e:
                raise StoreError(f"Database error: {e}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn(conn)`` in a read transaction (one consistent snapshot)."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.engine.connect() as conn, conn.begin():
                    return fn(conn)
            except SpanrunError:
                raise
            except sa_exc.DBAPIError as e:
                if _is_transient(e) and attempt < MAX_ATTEMPTS - 1:
                    _backoff(attempt)
                    continue
                raise StoreError(f"Database error: {e.orig}") from e
            except sa_exc.SQLAlchemyError as e:
                raise StoreError(f"Database error: {e}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def read_raw(self, fn: Callable[[Any], T]) -> T:
        """Like :meth:`read`, but ``fn`` gets a DBAPI cursor of the read transaction."""

        def on_cursor(conn: sa.Connection) -> T:
            cursor: Any = conn.connection.cursor()
            try:
                return fn(cursor)
            finally:
                cursor.close()

        return self.read(on_cursor)

    def reopen_if_replaced(self) -> bool:
        """Never: ``SqlAlchemyStore`` does not watch its file (autolog's exporter does)."""
        return False

    def close(self) -> None:
        self.dispose()

    def dispose(self, close: bool = True) -> None:
        """Close the connections; ``close=False`` (in a forked child) only forgets them."""
        writer, self._writer = self._writer, None  # taken again by the next write
        if writer is not None:
            if close:
                writer.close()
            else:
                writer.after_fork_in_child()
        self.engine.dispose(close=close)
