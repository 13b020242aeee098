"""The tracking store on SQLAlchemy: SQLite (embedded default) and PostgreSQL.

Runs are created, read, updated and checked, and export batches written, by the one
``SqlRunWriter`` (``_run_writer.py``, a base class here) over this store's ``Database``; this
module adds experiments, deletion, ``log_batch``, history, search and traces."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.core.entities import (
    DatasetInput,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    SpanRecord,
    Trace,
    TraceInfo,
    ViewType,
)
from spanrun.core.text import bad_character
from spanrun.errors import (
    InvalidParamChangeError,
    InvalidStateError,
    NotFoundError,
)
from spanrun.store import _models as m
from spanrun.store import _traces
from spanrun.store._common import (
    ACTIVE,
    DELETED,
    checked_key,
    experiment_key,
    now_ms,
    reset_in_forked_child,
    to_uri,
)
from spanrun.store._db import Database
from spanrun.store._experiments import ExperimentMethods
from spanrun.store._inputs import active_run_experiment, read_inputs, write_inputs
from spanrun.store._metric_writes import MetricRow, MetricWriter, metric_row
from spanrun.store._migrate import ensure_schema
from spanrun.store._run_load import load_runs
from spanrun.store._run_writer import SqlRunWriter
from spanrun.store._search_filter import parse_filter, parse_order_by
from spanrun.store._search_sql import (
    PAGE_LIMIT,
    PAGE_OFFSET,
    check_max_results,
    decode_page_token,
    encode_page_token,
    run_search_query,
)
from spanrun.store._trace_filter_sql import filter_traces
from spanrun.store._ui_reads import UiReadMethods
from spanrun.store.base import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, Store, TraceFilter
from spanrun.store.sqlite._engine import seed_planner_stats

__all__ = ["SqlAlchemyStore"]


class SqlAlchemyStore(UiReadMethods, ExperimentMethods, SqlRunWriter, Store):
    """Tracking store on a SQL database (``sqlite:///...`` or ``postgresql+psycopg://...``).

    Creating one checks the schema version with one query and migrates only a new or older
    database. ``artifact_root`` (a path or URI) is where new experiments keep artifacts:
    ``<artifact_root>/<experiment_id>/<run_id>/artifacts``.
    """

    def __init__(self, db_uri: str | sa.URL, artifact_root: str) -> None:
        self.db_uri = (
            db_uri if isinstance(db_uri, str) else db_uri.render_as_string(hide_password=False)
        )
        self.artifact_root = to_uri(artifact_root)
        self._db = Database(sa.make_url(db_uri))
        self._insert = self._db.insert
        self._build_statements()
        ensure_schema(self._db, self._initialize)
        SqlRunWriter.__init__(self, self._db)
        reset_in_forked_child(self)

    @property
    def engine(self) -> sa.Engine:
        return self._db.engine

    def _build_statements(self) -> None:
        # log_batch is the hot path (every log_metric goes through it): its statements are
        # compiled to SQL text once and run on the DBAPI cursor.
        positional = self._db.compile_positional
        kv_cols = ["run_id", "key", "value"]
        self._sql_param_value = positional(
            sa.select(m.params.c.value).where(
                m.params.c.run_id == sa.bindparam("run_id"), m.params.c.key == sa.bindparam("key")
            ),
            ["run_id", "key"],
        )
        # A param already there is left alone here and compared afterwards (rowcount).
        self._sql_insert_params = positional(
            self._insert(m.params).on_conflict_do_nothing(
                index_elements=[m.params.c.run_id, m.params.c.key]
            ),
            kv_cols,
        )
        self._metric_writer = MetricWriter(self._db)
        tag_ins = self._insert(m.tags)
        self._upsert_tags = tag_ins.on_conflict_do_update(
            index_elements=[m.tags.c.run_id, m.tags.c.key],
            set_={"value": tag_ins.excluded.value},
        )
        self._sql_upsert_tags = positional(self._upsert_tags, kv_cols)
        # Prebuilt (not rebuilt per call) so SQLAlchemy skips building and hashing them again.
        self._experiment_stmt = sa.select(m.experiments).where(
            m.experiments.c.experiment_id == sa.bindparam("experiment_id")
        )
        self._run_stmt = sa.select(m.runs).where(m.runs.c.run_id == sa.bindparam("run_id"))
        self._sql_delete_tag = positional(
            sa.delete(m.tags).where(
                m.tags.c.run_id == sa.bindparam("run_id"), m.tags.c.key == sa.bindparam("key")
            ),
            ["run_id", "key"],
        )

    def _initialize(self, conn: sa.Connection) -> None:
        if self.dialect == "sqlite":
            seed_planner_stats(conn)
        exists = conn.execute(
            sa.select(m.experiments.c.experiment_id).where(
                m.experiments.c.experiment_id == int(DEFAULT_EXPERIMENT_ID)
            )
        ).first()
        if exists is None:
            now = now_ms()
            conn.execute(
                sa.insert(m.experiments).values(
                    experiment_id=int(DEFAULT_EXPERIMENT_ID),
                    name=DEFAULT_EXPERIMENT_NAME,
                    artifact_location=f"{self.artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                    lifecycle_stage=ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
            )

    def close(self) -> None:
        self._db.dispose()

    def _after_fork_in_child(self) -> None:
        # The parent's pooled connections must not be used (or closed) by the child.
        self._db.dispose(close=False)

    # -- runs (create, get, update: SqlRunWriter's) --------------------------------------
    @staticmethod
    def _run_info(row: sa.Row[Any]) -> RunInfo:
        return RunInfo(
            run_id=row.run_id,
            experiment_id=str(row.experiment_id),
            run_name=row.run_name,
            status=row.status,
            start_time=row.start_time,
            end_time=row.end_time,
            artifact_uri=row.artifact_uri,
            lifecycle_stage=row.lifecycle_stage,
            user_id=row.user_id,
        )

    def _run_row(self, conn: sa.Connection, run_id: str) -> sa.Row[Any]:
        row = conn.execute(self._run_stmt, {"run_id": run_id}).first()
        if row is None:
            raise NotFoundError(f"Run {run_id!r} not found")
        return row

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        def update(conn: sa.Connection) -> None:
            row = self._run_row(conn, run_id)
            if stage == ACTIVE:
                exp_stage = conn.execute(
                    sa.select(m.experiments.c.lifecycle_stage).where(
                        m.experiments.c.experiment_id == row.experiment_id
                    )
                ).scalar()
                if exp_stage != ACTIVE:
                    raise InvalidStateError(
                        f"Cannot restore run {run_id!r}: its experiment is deleted"
                    )
            conn.execute(
                sa.update(m.runs)
                .where(m.runs.c.run_id == run_id)
                .values(
                    lifecycle_stage=stage,
                    deleted_time=now_ms() if stage == DELETED else None,
                )
            )

        self._db.write(update)

    def get_run(self, run_id: str) -> Run:
        """The run with its inputs (the run writer's ``get_run`` has none: the exporter needs
        none, and pays nothing for them)."""
        run = SqlRunWriter.get_run(self, run_id)
        inputs = self._db.read(lambda conn: read_inputs(conn, [run_id])).get(run_id)
        return run if inputs is None else dataclasses.replace(run, inputs=inputs)

    def log_inputs(self, run_id: str, dataset_inputs: Sequence[DatasetInput]) -> None:
        if dataset_inputs:
            self._db.write(
                lambda conn: write_inputs(conn, self._insert, run_id, dataset_inputs),
                retry_integrity=True,  # two writers adding the same dataset at once
            )
        else:  # nothing to write; the run must still be there and active, as in MLflow
            self._db.read(lambda conn: active_run_experiment(conn, run_id))

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, ACTIVE)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write metrics, params and tags in one transaction: all of it or (on error) none."""
        rows = [metric_row(metric) for metric in metrics]
        param_map: dict[str, str] = {}
        for p in params:
            checked_key(p.key, "param")
            value = str(p.value)
            if param_map.get(p.key, value) != value:
                raise InvalidParamChangeError(
                    f"Param {p.key!r} is logged twice in one batch with different values: "
                    f"{param_map[p.key]!r} and {value!r}"
                )
            param_map[p.key] = value
        tag_rows = [
            (run_id, k, str(v))
            for k, v in {checked_key(t.key, "tag"): t.value for t in tags}.items()
        ]

        def write(cursor: Any) -> None:
            self.check_active(cursor, run_id)
            if param_map:
                self._write_params(cursor, run_id, param_map)
            if tag_rows:
                cursor.executemany(self._sql_upsert_tags, tag_rows)
            if rows:
                self._metric_writer.write(cursor, run_id, rows)

        self._db.write_raw(write, retry_integrity=True)

    def log_checked_metrics(self, run_id: str, rows: Sequence[MetricRow]) -> None:
        """Append metric values the client has validated: ``(key, value, timestamp_ms, step)``
        with a valid key, a float value and 64-bit integers (as ``log_batch`` otherwise).

        The asynchronous logger's path: thousands of values per transaction, no per-value
        objects.
        """

        def write(cursor: Any) -> None:
            self.check_active(cursor, run_id)
            self._metric_writer.write(cursor, run_id, rows)

        if rows:
            self._db.write_raw(write)

    def _write_params(self, cursor: Any, run_id: str, param_map: dict[str, str]) -> None:
        rows = [(run_id, key, value) for key, value in param_map.items()]
        if len(rows) == 1:
            cursor.execute(self._sql_insert_params, rows[0])
        else:
            cursor.executemany(self._sql_insert_params, rows)
        if cursor.rowcount == len(rows):
            return  # all new: the usual case, one statement
        # Some were logged before (by now committed, on PostgreSQL after waiting for a
        # concurrent writer of the same key): they must have the same value.
        for key, value in param_map.items():
            cursor.execute(self._sql_param_value, (run_id, key))
            found = cursor.fetchone()
            if found is not None and found[0] != value:
                raise InvalidParamChangeError(
                    f"Changing param values is not allowed. Param with key={key!r} was already "
                    f"logged with value={found[0]!r} for run ID={run_id!r}. Attempted logging "
                    f"new value {value!r}."
                )

    def delete_tag(self, run_id: str, key: str) -> None:
        def delete(cursor: Any) -> None:
            self.check_active(cursor, run_id)
            cursor.execute(self._sql_delete_tag, (run_id, key))
            if cursor.rowcount == 0:
                raise NotFoundError(f"No tag {key!r} on run {run_id!r}")

        self._db.write_raw(delete)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        check_max_results(max_results)
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        keys = [k for k in (experiment_key(e) for e in experiment_ids) if k is not None]
        offset = decode_page_token(page_token)
        stmt = run_search_query(
            keys,
            parse_filter(filter_string, "run"),
            run_view_type,
            parse_order_by(order_by, "run"),
            self.dialect,
        )
        # One more than a page: whether there is a next page, without counting.
        page = {PAGE_OFFSET: offset, PAGE_LIMIT: max_results + 1}

        def search(conn: sa.Connection) -> PagedList[Run]:
            rows = conn.execute(stmt, page).all()
            token = encode_page_token(offset + max_results) if len(rows) > max_results else None
            return PagedList(load_runs(conn, self.dialect, rows[:max_results]), token)

        return self._db.read(search)

    # -- traces ----------------------------------------------------------------------------
    def log_spans(self, spans: Sequence[SpanRecord]) -> None:
        if not spans:
            return
        # One path for spans, checked and aggregated into traces as export batches are.
        self.log_export_batch({}, spans)

    def get_trace(self, trace_id: str) -> Trace:
        if not isinstance(trace_id, str) or bad_character(trace_id) is not None:
            raise NotFoundError(f"Trace {trace_id!r} not found")  # no stored id looks like it
        return self._db.read(lambda conn: _traces.read_trace(conn, trace_id))

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        trace_filter: TraceFilter | None = None,
    ) -> PagedList[TraceInfo]:
        check_max_results(max_results)
        offset = decode_page_token(page_token)
        stmt = _traces.search_query(experiment_ids, run_id, order_by, offset, max_results + 1)
        if trace_filter is not None:
            stmt = filter_traces(stmt, trace_filter)

        def search(conn: sa.Connection) -> PagedList[TraceInfo]:
            infos = [_traces.trace_info(row) for row in conn.execute(stmt)]
            token = encode_page_token(offset + max_results) if len(infos) > max_results else None
            return PagedList(infos[:max_results], token)

        return self._db.read(search)
