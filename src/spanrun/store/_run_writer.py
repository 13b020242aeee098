"""``SqlRunWriter``: the one implementation of the run writer (``spanrun.store.base.RunWriter``)
for every SQL database: create, read and update runs, check a run is active, write export
batches.

Its statements are DB-API SQL written once, with the placeholder of the database (``?`` for
the stdlib ``sqlite3``, ``%s`` for psycopg), and run through a :class:`Transactions`: on a
SQLite file the process's one write connection (``sqlite.SqliteDatabase`` without SQLAlchemy
for autolog's exporter, or SQLAlchemy's ``Database``, whose writes go to that same connection),
on PostgreSQL SQLAlchemy's pool. ``SqlAlchemyStore`` is built from one of these plus its
SQLAlchemy reads and search.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from spanrun.core.entities import Run, RunData, RunInfo, RunStatus, RunTag, SpanRecord
from spanrun.core.vocabulary import RUN_NAME_TAG
from spanrun.errors import InvalidStateError, NotFoundError
from spanrun.store._common import ACTIVE, experiment_key, new_run_fields, run_info_values
from spanrun.store._export_batch import (
    BulkStatements,
    Writer,
    prepare_export_batch,
    write_prepared_batch,
)
from spanrun.store.base import RUN_KEY_TAG, RunBatch, RunWriter

__all__ = ["SqlRunWriter", "Transactions", "raise_unless_active"]

T = TypeVar("T")

_RUN_COLUMNS = (
    "run_id, experiment_id, run_name, status, start_time, end_time, artifact_uri, "
    "lifecycle_stage, user_id"
)


class Transactions(Writer, Protocol):
    """What the run writer runs its SQL through (``fn`` gets a DB-API cursor)."""

    def read_raw(self, fn: Callable[[Any], T]) -> T:
        """``fn(cursor)`` in a read transaction (one snapshot)."""
        ...

    def reopen_if_replaced(self) -> bool:
        """As ``RunWriter.reopen_if_replaced``."""
        ...

    def close(self) -> None:
        """Release the connections (they are made again on next use)."""
        ...


def raise_unless_active(run_id: str, stage: str | None) -> None:
    """The run check of every write: NotFoundError for no run, InvalidStateError for a deleted
    one (``stage`` is its lifecycle stage, None when there is no such run)."""
    if stage is None:
        raise NotFoundError(f"Run {run_id!r} not found")
    if stage != ACTIVE:
        raise InvalidStateError(
            f"Run {run_id!r} is deleted; restore it before logging to it or changing it"
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


class SqlRunWriter(RunWriter):
    """Runs and export batches on the database behind ``db`` (see the module docstring)."""

    def __init__(self, db: Transactions) -> None:
        #: The transactions it runs on (a ``SqliteDatabase`` or SQLAlchemy's ``Database``).
        self.database = db
        #: The SQLite file written, when it is one and this writer holds it without SQLAlchemy.
        self.path: str | None = getattr(db, "path", None)
        p = "%s" if db.dialect == "postgresql" else "?"
        self._sql_experiment = (
            "SELECT experiment_id, artifact_location, lifecycle_stage FROM experiments "
            f"WHERE experiment_id = {p}"
        )
        self._sql_run = f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = {p}"
        self._sql_stage = f"SELECT lifecycle_stage FROM runs WHERE run_id = {p}"
        self._sql_insert_run = (
            "INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, "
            "end_time, lifecycle_stage, artifact_uri, deleted_time) "
            f"VALUES ({', '.join([p] * 10)})"
        )
        self._sql_insert_tag = f'INSERT INTO tags (run_id, "key", value) VALUES ({p}, {p}, {p})'
        self._sql_upsert_tag = (
            f'INSERT INTO tags (run_id, "key", value) VALUES ({p}, {p}, {p}) '
            'ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value'
        )
        self._sql_params = f'SELECT "key", value FROM params WHERE run_id = {p}'
        self._sql_tags = f'SELECT "key", value FROM tags WHERE run_id = {p}'
        self._sql_latest = f'SELECT "key", value, is_nan FROM latest_metrics WHERE run_id = {p}'
        self._sql_keyed_run = (
            'SELECT r.run_id FROM runs r JOIN tags t ON t.run_id = r.run_id WHERE t."key" = '
            f"{p} AND t.value = {p} AND r.experiment_id = {p} AND r.status = 'RUNNING' AND "
            "r.lifecycle_stage = 'active' ORDER BY r.start_time, r.run_id LIMIT 1"
        )
        self._p = p
        self._bulk: BulkStatements | None = None

    @property
    def dialect(self) -> str:
        return self.database.dialect

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        return self.database.write_raw(
            self._run_creator(experiment_id, user_id, start_time, tags, run_name)
        )

    def create_keyed_run(
        self,
        key: str,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """As ``RunWriter.create_keyed_run``: looked up and created in one write transaction.

        SQLite writers hold the file's write lock from the transaction's start (``BEGIN
        IMMEDIATE``); on PostgreSQL a transaction-scoped advisory lock on the key serializes
        the callers (no unique index needed, so the schema is unchanged)."""
        create = self._run_creator(
            experiment_id, user_id, start_time, [*tags, RunTag(RUN_KEY_TAG, key)], run_name
        )
        experiment = experiment_key(experiment_id)

        def get_or_create(cursor: Any) -> Run:
            if self.dialect == "postgresql":
                digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s)",
                    (int.from_bytes(digest, "big", signed=True),),
                )
            cursor.execute(self._sql_keyed_run, (RUN_KEY_TAG, key, experiment))
            found = cursor.fetchone()
            if found is None:
                return create(cursor)
            return self._read_run(cursor, found[0])

        return self.database.write_raw(get_or_create)

    def _run_creator(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Callable[[Any], Run]:
        run_id, name, start_time, tag_map = new_run_fields(run_name, user_id, start_time, tags)
        key = experiment_key(experiment_id)

        def create(cursor: Any) -> Run:
            exp = None
            if key is not None:
                cursor.execute(self._sql_experiment, (key,))
                exp = cursor.fetchone()
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
                self._sql_insert_run,
                (run_id, exp[0], name, info.user_id, info.status, start_time, None, ACTIVE,
                 info.artifact_uri, None),
            )  # fmt: skip
            if tag_map:
                cursor.executemany(
                    self._sql_insert_tag, [(run_id, k, v) for k, v in tag_map.items()]
                )
            return Run(info=info, data=RunData(tags=dict(tag_map)))

        return create

    def get_run(self, run_id: str) -> Run:
        return self.database.read_raw(functools.partial(self._read_run, run_id=run_id))

    def _read_run(self, cursor: Any, run_id: str) -> Run:
        cursor.execute(self._sql_run, (run_id,))
        row = cursor.fetchone()
        if row is None:
            raise NotFoundError(f"Run {run_id!r} not found")
        args = (run_id,)
        cursor.execute(self._sql_params, args)
        params = dict(cursor.fetchall())
        cursor.execute(self._sql_tags, args)
        tags = dict(cursor.fetchall())
        cursor.execute(self._sql_latest, args)
        metrics = {
            key: math.nan if is_nan or value is None else float(value)
            for key, value, is_nan in cursor.fetchall()
        }
        return Run(info=_run_info(row), data=RunData(metrics=metrics, params=params, tags=tags))

    def check_active(self, cursor: Any, run_id: str) -> None:
        """Raise unless ``run_id`` is an active run (inside a write transaction)."""
        cursor.execute(self._sql_stage, (run_id,))
        found = cursor.fetchone()
        raise_unless_active(run_id, found[0] if found else None)

    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values = run_info_values(status, end_time, run_name)
        # Column names come from the fixed keys of run_info_values, never from the caller.
        assignments = ", ".join(f"{column} = {self._p}" for column in values)

        def update(cursor: Any) -> RunInfo:
            self.check_active(cursor, run_id)
            if values:
                cursor.execute(
                    f"UPDATE runs SET {assignments} WHERE run_id = {self._p}",
                    (*values.values(), run_id),
                )
            if run_name:
                cursor.execute(self._sql_upsert_tag, (run_id, RUN_NAME_TAG, run_name))
            cursor.execute(self._sql_run, (run_id,))
            return _run_info(cursor.fetchone())

        return self.database.write_raw(update)

    def stored_span_ids(self, trace_ids: Sequence[str]) -> dict[str, set[str]]:
        """As ``Store.stored_span_ids``: one query per 500 traces."""
        wanted = list(dict.fromkeys(t for t in trace_ids if isinstance(t, str)))
        found: dict[str, set[str]] = {}

        def read(cursor: Any) -> None:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                args: list[Any]
                if self.dialect == "postgresql":
                    where, args = "trace_id = ANY(%s)", [chunk]
                else:
                    where, args = f"trace_id IN ({', '.join('?' * len(chunk))})", list(chunk)
                cursor.execute(f"SELECT trace_id, span_id FROM spans WHERE {where}", args)
                for trace_id, span_id in cursor.fetchall():
                    found.setdefault(trace_id, set()).add(span_id)

        if wanted:
            self.database.read_raw(read)
        return found

    # -- export batches ----------------------------------------------------------------------
    def log_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> dict[str, str]:
        """One transaction for the whole batch (see ``spanrun.store._export_batch``)."""
        return self._prepare(runs, spans)()

    def prepare_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> Callable[[], dict[str, str]]:
        return self._prepare(runs, spans)

    def _prepare(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord]
    ) -> Callable[[], dict[str, str]]:
        stmts = self._bulk_statements()
        batch = prepare_export_batch(stmts, runs, spans)
        return functools.partial(write_prepared_batch, self.database, stmts, batch)

    def _bulk_statements(self) -> BulkStatements:
        stmts = self._bulk
        if stmts is None:
            stmts = self._bulk = BulkStatements(self.database)
        return stmts

    # -- lifecycle ---------------------------------------------------------------------------
    def reopen_if_replaced(self) -> bool:
        if not self.database.reopen_if_replaced():
            return False
        self._bulk = None  # built for the old file's connection
        return True

    def close(self) -> None:
        self.database.close()
