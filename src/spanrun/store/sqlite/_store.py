"""``DirectSqliteStore``: the exporter's store on a SQLite file, without SQLAlchemy.

``spanrun.autolog()`` must stay light in the user's process, and SQLAlchemy alone costs ~12 MB
of RSS. The run exporter needs only a few store methods (``create_run``, ``get_run``,
``update_run_info``, ``log_export_batch``); this store implements those on the stdlib
``sqlite3`` module, with the same rows, semantics and errors as ``SqlAlchemyStore``:

- opening builds a new database from the static DDL of ``_ddl`` (stamped at
  ``SCHEMA_VERSION``, planner statistics seeded, the Default experiment created), exactly what
  ``SqlAlchemyStore`` builds; a database at another revision is handed to a ``SqlAlchemyStore``
  first, which migrates it (or refuses a newer one);
- writes run on the shared ``WriteConnection`` (``BEGIN IMMEDIATE``, background WAL
  checkpoints) with the shared retry of ``_retry``; export batches through the shared
  ``_export_batch.write_export_batch``;
- every other ``Store`` method goes to a ``SqlAlchemyStore`` for the same file and artifact
  root, made on first use, so a process that only autologs never imports SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from spanrun.core.entities import (
    Experiment,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    SpanRecord,
    Trace,
    TraceInfo,
    ViewType,
)
from spanrun.core.vocabulary import RUN_NAME_TAG
from spanrun.errors import InvalidStateError, NotFoundError
from spanrun.store._common import (
    ACTIVE,
    experiment_key,
    new_run_fields,
    now_ms,
    reset_in_forked_child,
    run_info_values,
    to_uri,
)
from spanrun.store._export_batch import (
    BulkStatements,
    prepare_export_batch,
    write_export_batch,
    write_prepared_batch,
)
from spanrun.store._metric_writes import MetricRow
from spanrun.store._retry import is_transient, retry_read, retry_write
from spanrun.store.base import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, RunBatch, Store
from spanrun.store.sqlite._connect import connect, seed_planner_stats
from spanrun.store.sqlite._ddl import SCHEMA_VERSION, SQLITE_DDL
from spanrun.store.sqlite._write_connection import WriteConnection, shared_write_connection
from spanrun.store.sqlite._write_connection import _inherited as _inherited_connections

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from spanrun.store._sqlalchemy_store import SqlAlchemyStore

__all__ = ["DirectSqliteStore"]

T = TypeVar("T")

_QUICK_CHECK = (
    "SELECT version_num, "
    "(SELECT COUNT(*) FROM experiments WHERE experiment_id = 0) AS has_default "
    "FROM alembic_version"
)
_RUN_COLUMNS = (
    "run_id, experiment_id, run_name, status, start_time, end_time, artifact_uri, "
    "lifecycle_stage, user_id"
)
_SELECT_RUN = f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?"
_INSERT_RUN = (
    "INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, end_time, "
    "lifecycle_stage, artifact_uri, deleted_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_TAG = 'INSERT INTO tags (run_id, "key", value) VALUES (?, ?, ?)'
_UPSERT_TAG = (
    'INSERT INTO tags (run_id, "key", value) VALUES (?, ?, ?) '
    'ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value'
)


def _run_info(row: Sequence[Any]) -> RunInfo:
    """A RunInfo from a row of ``_RUN_COLUMNS``."""
    run_id, experiment_id, name, status, start, end, artifact_uri, stage, user_id = row
    return RunInfo(
        run_id=run_id,
        experiment_id=str(experiment_id),
        run_name=name,
        status=status,
        start_time=start,
        end_time=end,
        artifact_uri=artifact_uri,
        lifecycle_stage=stage,
        user_id=user_id,
    )


def _raise_unless_active(run_id: str, stage: str | None) -> None:
    if stage is None:
        raise NotFoundError(f"Run {run_id!r} not found")
    if stage != ACTIVE:
        raise InvalidStateError(
            f"Run {run_id!r} is deleted; restore it before logging to it or changing it"
        )


def _file_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class DirectSqliteStore(Store):
    """A tracking store on the SQLite file ``path`` (see the module docstring).

    ``delegate`` returns the ``SqlAlchemyStore`` that serves the methods implemented here
    without SQLAlchemy (default: one of its own for ``path`` and ``artifact_root``, closed with
    this store; a given one is not closed here, it belongs to the caller).
    """

    dialect = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        artifact_root: str,
        delegate: Callable[[], Store] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.db_uri = f"sqlite:///{self.path}"
        self.artifact_root = to_uri(artifact_root)
        self._delegate_factory = delegate
        self._delegate: Store | None = None
        self._delegate_lock = threading.Lock()
        self._writer: WriteConnection | None = None  # the file's shared one, on first write
        self._bulk: BulkStatements | None = None
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
        if self._read(self._is_ready):
            return
        if not self.write_raw(self._build_or_initialize):
            self._sa_store()  # opening it migrates and initialises the database

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

    def _read(self, fn: Callable[[sqlite3.Cursor], T]) -> T:
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

    # -- what the exporter uses ------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        run_id, name, start_time, tag_map = new_run_fields(run_name, user_id, start_time, tags)

        def create(cursor: sqlite3.Cursor) -> Run:
            key = experiment_key(experiment_id)
            exp = None
            if key is not None:
                exp = cursor.execute(
                    "SELECT experiment_id, artifact_location, lifecycle_stage FROM experiments "
                    "WHERE experiment_id = ?",
                    (key,),
                ).fetchone()
            if exp is None:
                raise NotFoundError(f"No experiment with id {experiment_id!r}")
            if exp[2] != ACTIVE:
                raise InvalidStateError(
                    f"Cannot create a run in deleted experiment {experiment_id!r}"
                )
            info = RunInfo(
                run_id=run_id,
                experiment_id=str(exp[0]),
                run_name=name,
                status=RunStatus.RUNNING.value,
                start_time=start_time,
                end_time=None,
                artifact_uri=f"{exp[1]}/{run_id}/artifacts",
                lifecycle_stage=ACTIVE,
                user_id=user_id or "",
            )
            cursor.execute(
                _INSERT_RUN,
                (
                    run_id,
                    exp[0],
                    name,
                    info.user_id,
                    info.status,
                    start_time,
                    None,
                    ACTIVE,
                    info.artifact_uri,
                    None,
                ),
            )
            cursor.executemany(_INSERT_TAG, [(run_id, k, v) for k, v in tag_map.items()])
            return Run(info=info, data=RunData(tags=dict(tag_map)))

        return self.write_raw(create)

    def get_run(self, run_id: str) -> Run:
        def get(cursor: sqlite3.Cursor) -> Run:
            row = cursor.execute(_SELECT_RUN, (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"Run {run_id!r} not found")
            args = (run_id,)
            params = dict(cursor.execute('SELECT "key", value FROM params WHERE run_id = ?', args))
            tags = dict(cursor.execute('SELECT "key", value FROM tags WHERE run_id = ?', args))
            metrics = {
                key: math.nan if is_nan or value is None else float(value)
                for key, value, is_nan in cursor.execute(
                    'SELECT "key", value, is_nan FROM latest_metrics WHERE run_id = ?', args
                )
            }
            return Run(info=_run_info(row), data=RunData(metrics=metrics, params=params, tags=tags))

        return self._read(get)

    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values = run_info_values(status, end_time, run_name)
        # Column names come from the fixed keys above, never from the caller.
        assignments = ", ".join(f"{column} = ?" for column in values)

        def update(cursor: sqlite3.Cursor) -> RunInfo:
            found = cursor.execute(
                "SELECT lifecycle_stage FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            _raise_unless_active(run_id, found[0] if found else None)
            if values:
                cursor.execute(
                    f"UPDATE runs SET {assignments} WHERE run_id = ?", (*values.values(), run_id)
                )
            if run_name:
                cursor.execute(_UPSERT_TAG, (run_id, RUN_NAME_TAG, run_name))
            return _run_info(cursor.execute(_SELECT_RUN, (run_id,)).fetchone())

        return self.write_raw(update)

    def log_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> dict[str, str]:
        """One transaction for the whole batch (see ``spanrun.store._export_batch``)."""
        return write_export_batch(self, self._bulk_stmts(), runs, spans)

    def prepare_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> Callable[[], dict[str, str]]:
        stmts = self._bulk_stmts()
        batch = prepare_export_batch(stmts, runs, spans)
        return functools.partial(write_prepared_batch, self, stmts, batch)

    def _bulk_stmts(self) -> BulkStatements:
        stmts = self._bulk
        if stmts is None:
            stmts = self._bulk = BulkStatements(self)
        return stmts

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
            self._bulk = None
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
        with self._delegate_lock:
            delegate = self._delegate
            if self._delegate_factory is None:  # ours: closed (it reconnects if used again)
                self._delegate = None
        if delegate is not None and self._delegate_factory is None:
            delegate.close()

    def _after_fork_in_child(self) -> None:
        # The parent's connections must not be used (or closed) by the child; a delegate
        # SqlAlchemyStore resets itself through its own fork hook.
        if self._writer is not None:
            self._writer.after_fork_in_child()
        if self._read_conn is not None:
            _inherited_connections.append(self._read_conn)
        self._init_read_state()
        self._delegate_lock = threading.Lock()
        self._reopen_lock = threading.Lock()

    # -- everything else: the SqlAlchemyStore for the same file ----------------------------
    def _sa_store(self) -> Store:
        store = self._delegate
        if store is None:
            with self._delegate_lock:
                store = self._delegate
                if store is None:
                    store = self._delegate = self._new_delegate()
        return store

    def _new_delegate(self) -> Store:
        if self._delegate_factory is not None:
            return self._delegate_factory()
        from spanrun.store._sqlalchemy_store import SqlAlchemyStore

        store: SqlAlchemyStore = SqlAlchemyStore(self.db_uri, self.artifact_root)
        return store

    def __getattr__(self, name: str) -> Any:
        # SqlAlchemyStore's extras beyond the Store interface (e.g. ``engine``).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._sa_store(), name)

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[RunTag] = ()
    ) -> str:
        return self._sa_store().create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._sa_store().get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self._sa_store().get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        return self._sa_store().search_experiments(
            view_type, max_results, filter_string, order_by, page_token
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._sa_store().delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self._sa_store().restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._sa_store().rename_experiment(experiment_id, new_name)

    def set_experiment_tag(self, experiment_id: str, tag: RunTag) -> None:
        self._sa_store().set_experiment_tag(experiment_id, tag)

    def delete_run(self, run_id: str) -> None:
        self._sa_store().delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self._sa_store().restore_run(run_id)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        self._sa_store().log_batch(run_id, metrics, params, tags)

    def log_checked_metrics(self, run_id: str, rows: Sequence[MetricRow]) -> None:
        self._sa_store().log_checked_metrics(run_id, rows)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._sa_store().delete_tag(run_id, key)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self._sa_store().get_metric_history(run_id, key)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        return self._sa_store().search_runs(
            experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )

    def log_spans(self, spans: Sequence[SpanRecord]) -> None:
        self._sa_store().log_spans(spans)

    def get_trace(self, trace_id: str) -> Trace:
        return self._sa_store().get_trace(trace_id)

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[TraceInfo]:
        return self._sa_store().search_traces(
            experiment_ids, run_id, max_results, order_by, page_token
        )
