"""The process's write connection to a SQLite file, with WAL checkpoints off the hot path.

Write connection: SQLite runs one write transaction at a time per file anyway, so one
connection per store and process, used under a lock, costs no concurrency, and each write
saves the pool's checkout, reset and return (about a third of a single-value ``log_metric``).
Threads wait on the lock; other processes (the workers of ``spanrun server``) wait on an
advisory file lock next to the database (``<file>-writelock``, ``flock``) before
``BEGIN IMMEDIATE``: a process waiting there wakes up as soon as the write lock is free, where
SQLite's busy handler sleeps in steps of up to 100 ms (two workers writing exporter batches
spent most of their time asleep). Writers that do not take it (SQLAlchemy's engine, other
programs) still meet SQLite's own lock and busy timeout. A forked child opens its own
connections and lock file.

Checkpoints: SQLite moves the WAL back into the database file inside whichever commit takes the
WAL past 1,000 pages, and with ``synchronous=NORMAL`` that checkpoint fsyncs twice: about one
single-value ``log_metric`` in 300 took milliseconds, more than half of all the time spent in
sync logging. The write connection leaves this to a background thread instead, asked every
256 commits or 4,096 changed rows (an exporter batch changes ~1,500), which runs
``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own (a passive
checkpoint never blocks writers or readers). The write connection keeps an automatic threshold
of 10,000 pages as a backstop. Durability is unchanged: a transaction is in the WAL file when
its commit returns, which is what survives kill -9.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler only
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriteConnection", "shared_write_connection"]

T = TypeVar("T")
_log = logging.getLogger(__name__)

_CHECKPOINT_EVERY = 256  # commits of the write connection
_BACKSTOP_PAGES = 10_000
_CHECKPOINT_CHANGES = 4096  # rows changed by the write connection's commits

# Connections a forked child inherited: kept referenced, never used or closed there (closing a
# parent's SQLite connection in a child can disturb the parent's locks).
_inherited: list[Any] = []


class WriteConnection:
    """One SQLite connection for write transactions (see the module docstring)."""

    def __init__(self, connect: Callable[[], Any], lock_path: str | None = None) -> None:
        """``connect()`` returns a new configured DBAPI connection (``_sqlite_conn.configure``)
        that this object owns; ``lock_path``: the file whose ``flock`` serialises the write
        transactions of several processes (None: SQLite's busy handler only)."""
        self._connect = connect
        self._lock_path = lock_path
        self._closed = False
        self._users = 1  # stores sharing it (shared_write_connection); closed by the last
        self._init_state()

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._conn: Any = None
        self._cursor: Any = None
        self._process_lock: _ProcessLock | None = None
        self._commits = 0
        self._changes = 0  # rows changed since the last checkpoint request
        self._last_total = 0  # the connection's total_changes then
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_conn: Any = None
        self._checkpoint_pending = False

    def run(self, fn: Callable[[Any], T]) -> T:
        """One attempt of ``fn(cursor)`` in a ``BEGIN IMMEDIATE`` transaction."""
        with self._lock:
            if self._pid != os.getpid():
                self._open()
            cursor = self._cursor
            with self._process_lock or contextlib.nullcontext():
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(cursor)
                    cursor.execute("COMMIT")
                except BaseException:
                    try:
                        self._conn.rollback()
                    except Exception:  # state unknown: never reuse it
                        self._close()
                    raise
            self._commits += 1
            # Big transactions (an exporter batch changes thousands of rows, each dirtying
            # index pages all over the file) ask for a checkpoint sooner: left to the
            # 10,000-page backstop, such a commit checkpointed for ~100 ms itself.
            changes = self._conn.total_changes
            self._changes += changes - self._last_total
            self._last_total = changes
            due = self._commits % _CHECKPOINT_EVERY == 0 or self._changes >= _CHECKPOINT_CHANGES
            if due:
                self._changes = 0
        if due and not self._checkpoint_pending:
            self._checkpoint_pending = True
            _checkpoints.request(self)
        return result

    def _open(self) -> None:
        if self._conn is not None:  # inherited through fork
            _inherited.append(self._conn)
        conn = self._connect()
        cursor = conn.cursor()
        cursor.execute(f"PRAGMA wal_autocheckpoint = {_BACKSTOP_PAGES}")
        # The page cache comes from configure() (16 MiB, not SQLite's 2 MiB): exporter batches
        # insert spans and traces under random ids, dirtying index pages all over their
        # B-trees; with the default cache those pages were read back again and again (OTLP
        # ingest: ~15% of the writer's time).
        self._conn, self._cursor, self._pid = conn, cursor, os.getpid()
        self._last_total = conn.total_changes
        self._closed = False
        if self._process_lock is None and self._lock_path is not None:
            self._process_lock = _ProcessLock.open(self._lock_path)

    def _close(self) -> None:
        conn, self._conn, self._cursor, self._pid = self._conn, None, None, -1
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        lock, self._process_lock = self._process_lock, None
        if lock is not None:
            lock.close()

    def checkpoint(self) -> None:
        """Move the WAL into the database file as far as readers allow (background thread)."""
        with self._checkpoint_lock:
            self._checkpoint_pending = False
            if self._closed:
                return
            try:
                if self._checkpoint_conn is None:
                    self._checkpoint_conn = self._connect()
                self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception as exc:  # the next commits simply ask again
                _log.debug("spanrun: background WAL checkpoint failed: %s", exc)
                conn, self._checkpoint_conn = self._checkpoint_conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()

    def reconnect(self) -> None:
        """Drop the connections; the next transaction opens new ones (the file was replaced)."""
        with self._lock:
            if self._pid == os.getpid():
                self._close()
        self._close_checkpoint_connection()

    def close(self) -> None:
        """Close, unless other stores still share this connection."""
        with _shared_lock:
            self._users -= 1
            if self._users > 0:
                return
            for key, writer in list(_shared.items()):
                if writer is self:
                    del _shared[key]
        self._closed = True
        with self._lock:
            if self._pid == os.getpid():
                self._close()
        self._close_checkpoint_connection()

    def _close_checkpoint_connection(self) -> None:
        with self._checkpoint_lock:
            conn, self._checkpoint_conn = self._checkpoint_conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def after_fork_in_child(self) -> None:
        _inherited.extend(c for c in (self._conn, self._checkpoint_conn) if c is not None)
        if self._process_lock is not None:  # the parent's open file (and lock, if held)
            _inherited.append(self._process_lock)
        self._init_state()  # new locks: another thread may have held one at fork time


# One write connection per SQLite file and process (key: the file's real path), shared by every
# store on that file: autolog's exporter store and the fluent API's store then queue on one lock
# instead of two connections contending for SQLite's write lock in its busy handler.
_shared: dict[str, WriteConnection] = {}
_shared_lock = threading.Lock()


def shared_write_connection(path: str) -> WriteConnection:
    """The process's write connection to the SQLite file ``path`` (made on first use); each
    caller owns one reference, released with ``close()``."""
    from spanrun.store.sqlite._connect import connect  # the one way connections are configured

    key = os.path.realpath(path)
    with _shared_lock:
        writer = _shared.get(key)
        if writer is not None:
            writer._users += 1
            return writer
        writer = _shared[key] = WriteConnection(
            functools.partial(connect, key), f"{key}-writelock" if _HAS_FLOCK else None
        )
        return writer


_HAS_FLOCK = fcntl is not None


class _ProcessLock:
    """An exclusive ``flock`` on a lock file, held around each write transaction.

    ``flock`` waits in the kernel without the GIL and returns as soon as the holder releases
    it. A lock file that cannot be opened (a read-only directory) leaves the writers to
    SQLite's busy handler, as before.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def open(cls, path: str) -> _ProcessLock | None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            _log.debug("spanrun: no write lock file %s: %s", path, exc)
            return None
        return cls(fd)

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _reset_shared_after_fork() -> None:
    # The parent's threads may have held these locks at fork time; the child opens its own
    # connections (what it inherited is kept in _inherited, never used or closed).
    global _shared_lock
    _shared_lock = threading.Lock()
    for writer in _shared.values():
        writer.after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reset_shared_after_fork)


class _CheckpointThread:
    """One daemon thread per process that runs the requested checkpoints."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):  # not on Windows
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[weakref.ref[WriteConnection]] | None = None

    def request(self, writer: WriteConnection) -> None:
        if self._queue is None:
            with self._lock:
                if self._queue is None:
                    q: queue.SimpleQueue[weakref.ref[WriteConnection]] = queue.SimpleQueue()
                    threading.Thread(
                        target=self._run, args=(q,), name="spanrun-sqlite-checkpoint", daemon=True
                    ).start()
                    self._queue = q
        self._queue.put(weakref.ref(writer))

    @staticmethod
    def _run(requests: queue.SimpleQueue[weakref.ref[WriteConnection]]) -> None:
        while True:
            writer = requests.get()()
            if writer is not None:
                writer.checkpoint()
            del writer  # a closed store must not be kept alive by this thread


_checkpoints = _CheckpointThread()
