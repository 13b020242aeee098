"""``log_export_batch`` for the SQL store: a whole exporter batch in one write transaction.

An export batch is thousands of LLM spans for a few runs. Written with ``log_batch`` per run
and ``log_spans`` it took a dozen transactions and SQLAlchemy's per-statement work; here it is
one transaction of prebuilt positional statements run on the DBAPI cursor:

- the runs' lifecycle stages are read once; rows of unknown or deleted runs are left out (and
  reported), the rest of the batch is written;
- metric history rows, plus one ``latest_metrics`` upsert per (run, key): the batch's latest by
  (step, timestamp), kept only when it is not older than the stored one, written by the same
  ``MetricWriter`` as ``log_batch`` (multi-row inserts on SQLite);
- LLM calls as one ``llm_calls`` row each (``_llm_calls.py``), and their latest values upserted
  into ``latest_metrics`` after the history rows (the newer by (step, timestamp) wins). The
  calls are numbered by the exporter that mapped them, from what it knew of the run; when the
  run's stored ``llm.calls`` says another writer added calls meanwhile (the workers of one
  server receiving one sender's spans, two processes logging into one run), the batch's calls
  are renumbered after the stored ones and its running totals rebased on the stored totals
  (``_rebased_calls``; on PostgreSQL under a lock of the run's row);
- params with ``ON CONFLICT DO NOTHING`` (the first value wins; never an error), tags upserted;
- spans upserted (idempotent per (trace_id, span_id)); a trace seen for the first time gets its
  row computed from the batch's spans, a trace that already has a row is recomputed from all of
  its stored spans (as ``log_spans``). A concurrent first insert of the same trace (PostgreSQL)
  fails the transaction with a unique violation and the retry takes the recompute path.

On PostgreSQL rows that take row locks are written in key order, so concurrent exporters
cannot deadlock each other.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from spanrun.core.entities import SpanRecord
from spanrun.core.text import bad_character, storable_text
from spanrun.errors import InvalidInputError
from spanrun.store._common import ACTIVE, checked_id, checked_key, chunks
from spanrun.store._llm_calls import (
    CALL_COLUMNS,
    CALL_METRICS,
    calls_by_run,
    checked_calls,
    latest_of_calls,
    unpack_run_batch,
)
from spanrun.store._metric_writes import MetricRow, MetricWriter
from spanrun.store.sqlite._ddl import SPAN_COLUMNS, TRACE_COLUMNS

if TYPE_CHECKING:
    from spanrun.store._db import Database

try:  # ~10x faster than the json module for span attributes; optional
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]

__all__ = [
    "SQLITE_INSERT_PARAMS",
    "SQLITE_UPSERT_TAGS",
    "BulkStatements",
    "PreparedBatch",
    "Writer",
    "dumps_json",
    "prepare_export_batch",
    "write_export_batch",
    "write_prepared_batch",
]

T = TypeVar("T")


class Writer(Protocol):
    """What :func:`write_export_batch` writes through: a ``Database`` or ``SqliteDatabase``."""

    @property
    def dialect(self) -> str: ...

    def write_raw(self, fn: Callable[[Any], T], *, retry_integrity: bool = False) -> T: ...


_INT64 = 2**63
# Bound parameters per statement: SQLite before 3.32 allows 999, later 32766.
_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_KV_COLUMNS = ["run_id", "key", "value"]
# An llm_calls row as the bulk writer binds it: run id, then the call row of _llm_calls.py.
_CALL_TABLE_COLUMNS = ("run_id", "step", "timestamp", *CALL_COLUMNS)
# What SQLAlchemy compiles for SQLite (a test compares them): written out so that SQLite
# writers need not load it.
# What SQLAlchemy compiles for SQLite (a test compares them), in parts for multi-row VALUES:
# SQLite writers need not load it.
_PARAMS_HEAD = 'INSERT INTO params (run_id, "key", value) VALUES '
_PARAMS_TAIL = ' ON CONFLICT (run_id, "key") DO NOTHING'
_TAGS_HEAD = 'INSERT INTO tags (run_id, "key", value) VALUES '
_TAGS_TAIL = ' ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value'
SQLITE_INSERT_PARAMS = f"{_PARAMS_HEAD}(?, ?, ?){_PARAMS_TAIL}"
SQLITE_UPSERT_TAGS = f"{_TAGS_HEAD}(?, ?, ?){_TAGS_TAIL}"
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
# Dataclasses and datetimes go to ``default=str`` as with the json module.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME if orjson is not None else 0
)


def dumps_json(value: Any) -> str:
    """Compact JSON of a span's attributes (odd values become their ``str``)."""
    if orjson is not None:
        try:
            out = orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)
        except (TypeError, ValueError):  # big ints, lone surrogates, non-str keys
            pass
        else:
            # orjson writes NaN and infinities as null: let the json module keep them.
            if b"null" not in out:
                return out.decode()
    return _ENCODER.encode(value)


class BulkStatements:
    """The statements of :func:`write_export_batch`, built once per store.

    On SQLite they are SQL text written here; on PostgreSQL SQLAlchemy compiles them (``db`` is
    then the store's ``Database``).
    """

    def __init__(self, db: Writer | Database) -> None:
        self.postgres = db.dialect == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        # History rows and latest values exactly as log_batch writes them.
        self.metrics = MetricWriter(db)
        params_sql, tags_sql = (
            _postgres_kv_statements(db)  # type: ignore[arg-type]
            if self.postgres
            else (SQLITE_INSERT_PARAMS, SQLITE_UPSERT_TAGS)
        )
        # Within one multi-row statement SQLite applies the rows in order, as executemany
        # would: the first param value and the last tag value win.
        self.insert_params = _ManyRows(db, _PARAMS_HEAD, "(?, ?, ?)", _PARAMS_TAIL, 3, params_sql)
        self.upsert_tags = _ManyRows(db, _TAGS_HEAD, "(?, ?, ?)", _TAGS_TAIL, 3, tags_sql)
        # LLM calls, one row each (see _llm_calls.py).
        calls_head = f"INSERT INTO llm_calls ({', '.join(_CALL_TABLE_COLUMNS)}) VALUES "
        calls_row = "(" + ", ".join(["?"] * len(_CALL_TABLE_COLUMNS)) + ")"
        self.insert_calls = _ManyRows(
            db,
            calls_head,
            calls_row,
            "",
            len(_CALL_TABLE_COLUMNS),
            "" if db.dialect == "sqlite" else _postgres_insert_calls(db),  # type: ignore[arg-type]
        )
        # run_id and parent_span_id come as "" for NULL (sqlite3 binds None through its
        # adapter lookup too); "" never meant anything else for them.
        spans = ("spans", SPAN_COLUMNS, ("trace_id", "span_id"))
        traces = ("traces", TRACE_COLUMNS, ("trace_id",))
        self.upsert_spans = _table_rows(db, *spans, ("parent_span_id", "run_id"), upsert=True)
        self.insert_traces = _table_rows(db, *traces, ("run_id",), upsert=False)
        self.upsert_traces = _table_rows(db, *traces, ("run_id",), upsert=True)
        # SQLite: the batch's trace rows inserted in one statement; a trace already stored (its
        # spans came in several batches) is recomputed from all its stored spans by the same
        # statement, instead of asking which are stored first (fewer round trips, each of
        # which re-takes the GIL from the exporter's mapping thread). PostgreSQL keeps asking
        # first: there the statement's snapshot could miss the spans of a concurrent exporter
        # writing the same trace, which the unique violation and retry (module docstring) do not.
        self.merge_traces = self.insert_traces.with_tail(_MERGE_TRACES_TAIL)
        mark = self.mark
        # A trace row recomputed from all its stored spans.
        self.aggregate = (
            "SELECT MIN(start_time_ns), MAX(end_time_ns), COUNT(*), "
            "MAX(CASE WHEN status_code = 'ERROR' THEN 1 ELSE 0 END), MAX(run_id), "
            f"MAX(experiment_id) FROM spans WHERE trace_id = {mark}"
        )
        self.root_name = (
            f"SELECT s.name FROM spans s WHERE s.trace_id = {mark} AND (s.parent_span_id IS NULL "
            "OR NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id "
            "AND p.span_id = s.parent_span_id)) "
            "ORDER BY s.parent_span_id IS NOT NULL, s.start_time_ns LIMIT 1"
        )

    def in_clause(self, column: str, values: Sequence[str]) -> tuple[str, Sequence[Any]]:
        if self.postgres:
            return f"{column} = ANY(%s)", [list(values)]
        return f"{column} IN ({', '.join('?' * len(values))})", values


class _ManyRows:
    """One INSERT for many rows: multi-row ``VALUES`` on SQLite, ``executemany`` elsewhere.

    sqlite3's ``executemany`` releases and re-takes the GIL for every row, and each re-take
    waits for whatever thread holds it (the user's program): a few statements per batch keep
    the exporter from stalling behind it.
    """

    def __init__(
        self, db: Writer | Database, head: str, row: str, tail: str, columns: int, one_row: str
    ) -> None:
        """SQLite: ``head`` + ``row`` n times (comma-separated) + ``tail``; elsewhere
        ``one_row`` (compiled for the database) with executemany."""
        self.sqlite = db.dialect == "sqlite"
        self.sql = one_row
        self._head, self._row, self._tail = head, row, tail
        self._per_statement = max(1, min(512, (_MAX_VARIABLES - 1) // columns))
        self._texts: dict[int, str] = {}

    def with_tail(self, tail: str) -> _ManyRows:
        """The same rows with another clause after them (SQLite)."""
        other = _ManyRows.__new__(_ManyRows)
        other.__dict__.update(self.__dict__, _tail=tail, _texts={})
        return other

    def _statement(self, rows: int) -> str:
        text = self._texts.get(rows)
        if text is None:
            text = self._texts[rows] = self._head + ",".join([self._row] * rows) + self._tail
        return text

    def run(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        if not self.sqlite:
            cursor.executemany(self.sql, rows)
            return
        chain = itertools.chain.from_iterable
        start, size = 0, self._per_statement
        while start < len(rows):
            while size > len(rows) - start:  # full statements, then powers of two: few texts
                size //= 2
            cursor.execute(self._statement(size), list(chain(rows[start : start + size])))
            start += size


# -- PostgreSQL: statements compiled by SQLAlchemy (imported only here) ----------------------


def _table_rows(
    db: Writer | Database,
    table: str,
    columns: Sequence[str],
    keys: Sequence[str],
    empty_is_null: Sequence[str],
    upsert: bool,
) -> _ManyRows:
    """Every column of ``table``, ``NULLIF(?, '')`` for ``empty_is_null``; an upsert on
    ``keys`` that replaces the other columns, or a plain insert."""
    row = "(" + ", ".join("nullif(?, '')" if c in empty_is_null else "?" for c in columns) + ")"
    tail = (
        f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
        if upsert
        else ""
    )
    # PostgreSQL: one row, compiled by SQLAlchemy, for executemany.
    one_row = (
        "" if db.dialect == "sqlite" else _postgres_many_rows(db, table, empty_is_null, upsert)  # type: ignore[arg-type]
    )
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    return _ManyRows(db, head, row, tail, len(columns), one_row)


def _postgres_compile(stmt: Any, columns: Sequence[str]) -> str:
    # Positional parameters: the rows are tuples (cheaper to build and bind than dicts).
    from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

    dialect = psycopg_dialect(paramstyle="format")  # type: ignore[no-untyped-call]
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
    # The tuples are built in ``columns`` order.
    assert list(compiled.positiontup) == list(columns), compiled.positiontup
    return str(compiled)


def _postgres_insert_calls(db: Database) -> str:
    import sqlalchemy as sa

    from spanrun.store import _models as m

    return _postgres_compile(sa.insert(m.llm_calls), _CALL_TABLE_COLUMNS)


def _postgres_kv_statements(db: Database) -> tuple[str, str]:
    from spanrun.store import _models as m

    ins = db.insert(m.params)
    insert_params = _postgres_compile(
        ins.on_conflict_do_nothing(index_elements=[m.params.c.run_id, m.params.c.key]),
        _KV_COLUMNS,
    )
    ins = db.insert(m.tags)
    upsert_tags = _postgres_compile(
        ins.on_conflict_do_update(
            index_elements=[m.tags.c.run_id, m.tags.c.key], set_={"value": ins.excluded.value}
        ),
        _KV_COLUMNS,
    )
    return insert_params, upsert_tags


def _postgres_many_rows(
    db: Database, table_name: str, empty_is_null: Sequence[str], upsert: bool
) -> str:
    import sqlalchemy as sa

    from spanrun.store import _models as m

    table: sa.Table = m.metadata.tables[table_name]
    values: dict[str, Any] = {c.name: sa.bindparam(c.name, type_=c.type) for c in table.c}
    for name in empty_is_null:  # NULLIF(?, '')
        values[name] = sa.func.nullif(
            sa.bindparam(name, type_=table.c[name].type), sa.literal_column("''")
        )
    ins = db.insert(table).values(values)
    if upsert:
        ins = ins.on_conflict_do_update(
            index_elements=[c.name for c in table.c if c.primary_key],
            set_={c.name: ins.excluded[c.name] for c in table.c if not c.primary_key},
        )
    return _postgres_compile(ins, [c.name for c in table.c])


def _int64(value: Any, what: str) -> int:
    try:
        number = int(value) if not isinstance(value, bool) else _INT64
    except (TypeError, ValueError, OverflowError):
        number = _INT64
    if not -_INT64 <= number < _INT64:
        raise InvalidInputError(f"Invalid {what} {value!r}: a 64-bit integer")
    return number


def _number(run_id: str, metric: Any) -> float:
    """A metric value that is not a plain int or float (numpy, Decimal, huge int) as a float."""
    value = metric[1]
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(
            f"Invalid metric {metric!r} for run {run_id!r}: the value must be a number"
        ) from None


def _checked_metrics(runs: Mapping[str, Any]) -> dict[str, Sequence[MetricRow]]:
    """Each run's metric tuples, checked; the caller's own sequence when all were fine."""
    checked: dict[str, Sequence[MetricRow]] = {}
    low, high = -_INT64, _INT64
    for run_id, batch in runs.items():
        metrics = unpack_run_batch(batch)[0]
        rows: list[MetricRow] | None = None  # a converted copy, made at the first odd value
        keys = set()
        for i, metric in enumerate(metrics):
            try:
                key, value, timestamp, step = metric
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"Invalid metric {metric!r} for run {run_id!r}: expected "
                    "(key, value, timestamp_ms, step)"
                ) from None
            keys.add(key)
            kind = type(value)
            if (
                ((kind is int and low <= value < high) or kind is float)
                and type(timestamp) is int
                and type(step) is int
                and low <= timestamp < high
                and low <= step < high
            ):
                if rows is not None:
                    rows.append(metric)
                continue
            if rows is None:
                rows = list(metrics[:i])
            rows.append(
                (
                    key,
                    _number(run_id, metric),
                    _int64(timestamp, "metric timestamp"),
                    _int64(step, "metric step"),
                )
            )
        for key in keys:  # every key of the run, checked once
            checked_key(key, "metric")
        if metrics:
            checked[run_id] = rows if rows is not None else metrics
    return checked


def _kv_rows(runs: Mapping[str, Any], index: int, what: str) -> list[tuple[str, str, str]]:
    rows = []
    for run_id, batch in runs.items():
        for key, value in batch[index].items():
            # Values from spans: NUL and lone surrogates escaped, never a failed batch.
            rows.append((run_id, checked_key(key, what), storable_text(str(value))))
    return rows


def _time_ns(value: Any, span_name: str) -> int:
    try:
        number = int(value) if not isinstance(value, bool) else -1
    except (TypeError, ValueError, OverflowError):
        number = -1
    if not 0 <= number < _INT64:
        raise InvalidInputError(f"Span {span_name!r} has an invalid time {value!r} (ns)")
    return number


def _span_row(s: SpanRecord, resources: dict[int, tuple[Any, str]]) -> tuple[Any, ...]:
    trace_id, span_id, parent = s.trace_id, s.span_id, s.parent_span_id or ""
    if not (
        trace_id
        and span_id
        and type(trace_id) is str
        and type(span_id) is str
        and len(trace_id) <= 32
        and len(span_id) <= 16
        and type(parent) is str
        and len(parent) <= 16
    ):
        raise InvalidInputError(
            f"Span {s.name!r} needs a trace_id (at most 32 hex digits) and a span_id (at "
            f"most 16): got {trace_id!r} and {span_id!r}"
        )
    run_id = str(s.run_id) if s.run_id else ""
    experiment_id = str(s.experiment_id) if s.experiment_id is not None else None
    if (
        (run_id and len(run_id) > 32)
        or (experiment_id and len(experiment_id) > 32)
        or bad_character(f"{trace_id}{span_id}{parent}{run_id}{experiment_id or ''}") is not None
    ):
        raise InvalidInputError(f"Span {s.name!r} has an invalid id")
    start, end = s.start_time_ns, s.end_time_ns
    if not (type(start) is int and type(end) is int and 0 <= start < _INT64 and 0 <= end < _INT64):
        start, end = _time_ns(start, s.name), _time_ns(end, s.name)
    # A provider's spans share one resource: serialise it once per batch.
    resource = resources.get(id(s.resource))
    if resource is None or resource[0] is not s.resource:
        resource = resources[id(s.resource)] = (s.resource, dumps_json(dict(s.resource)))
    events = (
        dumps_json(
            [
                {
                    "name": e.name,
                    "timestamp_ns": e.timestamp_ns,
                    # A mapping that is not a dict would be stored as its repr.
                    "attributes": e.attributes
                    if type(e.attributes) is dict
                    else dict(e.attributes or {}),
                }
                for e in s.events
            ]
        )
        if s.events
        else "[]"
    )
    # The user's program names spans and writes status messages: text either store can hold.
    name, message = s.name or "", s.status_message or ""
    if type(name) is not str or type(message) is not str:
        name, message = str(name), str(message)
    return (  # the spans table's columns, in order
        trace_id,
        span_id,
        parent,
        storable_text(name),
        s.kind or "INTERNAL",
        start,
        end,
        s.status_code or "UNSET",
        storable_text(message),
        dumps_json(s.attributes if type(s.attributes) is dict else dict(s.attributes)),
        events,
        resource[1],
        run_id,
        experiment_id,
    )


def _span_rows(spans: Sequence[SpanRecord]) -> list[tuple[Any, ...]]:
    """One row per (trace_id, span_id): the last one wins."""
    resources: dict[int, tuple[Any, str]] = {}
    rows = {(s.trace_id, s.span_id): s for s in spans}
    return [_span_row(s, resources) for s in rows.values()]


def _new_trace_rows(spans: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Trace rows from all the spans of traces that have no stored span (grouped by trace)."""
    by_trace: dict[str, list[tuple[Any, ...]]] = {}
    for row in spans:
        group = by_trace.get(row[0])
        if group is None:
            by_trace[row[0]] = [row]
        else:
            group.append(row)
    out = []
    for trace_id, group in by_trace.items():
        if len(group) == 1:  # an LLM call on its own: the usual case
            (s,) = group
            out.append(
                (trace_id, s[13], s[12], s[3], s[5], s[6], "ERROR" if s[7] == "ERROR" else "OK", 1)
            )
            continue
        ids = {s[1] for s in group}
        # The root: a span without parent, else the earliest whose parent is not stored.
        roots = [s for s in group if not s[2] or s[2] not in ids]
        root = min(roots, key=lambda s: (s[2] != "", s[5])) if roots else None
        run_ids = [s[12] for s in group if s[12]]
        experiment_ids = [s[13] for s in group if s[13] is not None]
        out.append(
            (
                trace_id,
                max(experiment_ids) if experiment_ids else None,
                max(run_ids) if run_ids else "",
                root[3] if root is not None else "",
                min(s[5] for s in group),
                max(s[6] for s in group),
                "ERROR" if any(s[7] == "ERROR" for s in group) else "OK",
                len(group),
            )
        )
    return out


_OF_TRACE = "FROM spans WHERE trace_id = excluded.trace_id"
_MERGE_TRACES_TAIL = (
    " ON CONFLICT (trace_id) DO UPDATE SET "
    f"experiment_id = (SELECT MAX(experiment_id) {_OF_TRACE}), "
    f"run_id = (SELECT MAX(run_id) {_OF_TRACE}), "
    # The root: a span without parent, else the earliest whose parent is not stored.
    "name = coalesce((SELECT s.name FROM spans s WHERE s.trace_id = excluded.trace_id AND "
    "(s.parent_span_id IS NULL OR NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = "
    "s.trace_id AND p.span_id = s.parent_span_id)) "
    "ORDER BY s.parent_span_id IS NOT NULL, s.start_time_ns LIMIT 1), ''), "
    f"start_time_ns = (SELECT MIN(start_time_ns) {_OF_TRACE}), "
    f"end_time_ns = (SELECT MAX(end_time_ns) {_OF_TRACE}), "
    "status = (SELECT CASE WHEN MAX(status_code = 'ERROR') THEN 'ERROR' ELSE 'OK' END "
    f"{_OF_TRACE}), "
    f"span_count = (SELECT COUNT(*) {_OF_TRACE})"
)


def _stored_traces(cursor: Any, stmts: BulkStatements, trace_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(sorted(trace_ids)):
        where, args = stmts.in_clause("trace_id", chunk)
        cursor.execute(f"SELECT trace_id FROM traces WHERE {where}", args)
        found.update(r[0] for r in cursor.fetchall())
    return found


def _write_traces(
    cursor: Any,
    stmts: BulkStatements,
    spans: list[tuple[Any, ...]],
    trace_rows: list[tuple[Any, ...]],
) -> None:
    """``trace_rows``: the rows of the batch's traces as if none were stored yet."""
    if not stmts.postgres:
        stmts.merge_traces.run(cursor, trace_rows)
        return
    stored = _stored_traces(cursor, stmts, {row[0] for row in trace_rows})
    rows = trace_rows
    if stored:  # rare: a trace whose spans came in several batches
        rows = _new_trace_rows([s for s in spans if s[0] not in stored])
        if stmts.postgres:
            rows.sort()
    if rows:
        stmts.insert_traces.run(cursor, rows)
    recomputed = []
    for trace_id in sorted(stored):
        cursor.execute(stmts.aggregate, (trace_id,))
        start, end, count, error, run_id, experiment_id = cursor.fetchone()
        cursor.execute(stmts.root_name, (trace_id,))
        root = cursor.fetchone()
        status = "ERROR" if error else "OK"
        name = root[0] if root else ""
        recomputed.append((trace_id, experiment_id, run_id or "", name, start, end, status, count))
    if recomputed:
        stmts.upsert_traces.run(cursor, recomputed)


@dataclass(frozen=True)
class PreparedBatch:
    """An export batch checked and turned into rows (:func:`prepare_export_batch`)."""

    run_ids: tuple[str, ...]
    metrics: dict[str, Sequence[MetricRow]]
    params: list[tuple[str, str, str]]
    tags: list[tuple[str, str, str]]
    spans: list[tuple[Any, ...]]
    traces: list[tuple[Any, ...]]  # the spans' trace rows, as if none were stored yet
    calls: list[tuple[Any, ...]]  # llm_calls rows (run id first)
    calls_latest: dict[str, list[MetricRow]]  # each run's latest call metrics


def prepare_export_batch(
    stmts: BulkStatements, runs: Mapping[str, Any], spans: Sequence[SpanRecord]
) -> PreparedBatch:
    """Check ``runs`` (run_id -> (metrics, params, tags)) and ``spans`` and build their rows.

    Pure Python, no database: the exporter runs this on its mapping thread, so that its writer
    thread (the slower stage) is left with the SQL. Raises InvalidInputError for bad input.
    """
    for run_id in runs:
        checked_id(run_id, "run id")
    metrics = _checked_metrics(runs)
    param_rows = _kv_rows(runs, 1, "param")
    tag_rows = _kv_rows(runs, 2, "tag")
    span_rows = _span_rows(spans)
    if stmts.postgres:  # row locks in key order: no deadlock between concurrent exporters
        metrics = dict(sorted(metrics.items()))
        for rows in (param_rows, tag_rows, span_rows):
            rows.sort(key=lambda r: (r[0], r[1]))
    trace_rows = _new_trace_rows(span_rows)
    if stmts.postgres:
        trace_rows.sort()
    call_rows: list[tuple[Any, ...]] = []
    calls_latest: dict[str, list[MetricRow]] = {}
    for run_id, calls in sorted(calls_by_run(runs).items()):
        checked = checked_calls(run_id, calls)
        call_rows += [(run_id, *row) for row in checked]
        calls_latest[run_id] = latest_of_calls(checked)
    return PreparedBatch(
        tuple(runs),
        metrics,
        param_rows,
        tag_rows,
        span_rows,
        trace_rows,
        call_rows,
        calls_latest,
    )


def write_prepared_batch(
    db: Writer | Database, stmts: BulkStatements, batch: PreparedBatch
) -> dict[str, str]:
    """Write a prepared batch in one transaction (may be called again to retry).

    Returns {run_id: reason} for the runs left out (unknown or deleted).
    """
    runs = batch.run_ids
    metrics, param_rows, tag_rows, span_rows = batch.metrics, batch.params, batch.tags, batch.spans
    call_rows, calls_latest = batch.calls, batch.calls_latest

    def write(cursor: Any) -> dict[str, str]:
        skipped: dict[str, str] = {}
        params, tags, calls, latest = param_rows, tag_rows, call_rows, calls_latest
        if runs:
            stages: dict[str, str] = {}
            for chunk in chunks(sorted(runs)):
                where, args = stmts.in_clause("run_id", chunk)
                cursor.execute(f"SELECT run_id, lifecycle_stage FROM runs WHERE {where}", args)
                stages.update(cursor.fetchall())
            for run_id in runs:
                stage = stages.get(run_id)
                if stage != ACTIVE:
                    skipped[run_id] = (
                        f"Run {run_id!r} not found"
                        if stage is None
                        else f"Run {run_id!r} is deleted; restore it before logging to it"
                    )
            if skipped:  # rare: leave those runs' rows out
                params = [r for r in params if r[0] not in skipped]
                tags = [r for r in tags if r[0] not in skipped]
                calls = [r for r in calls if r[0] not in skipped]
                latest = {r: rows for r, rows in latest.items() if r not in skipped}
        if calls:
            calls, latest = _rebased_calls(cursor, stmts, calls, latest)
        if metrics:
            live = (
                {r: rows for r, rows in metrics.items() if r not in skipped} if skipped else metrics
            )
            stmts.metrics.write_runs(cursor, live)
        if calls:
            stmts.insert_calls.run(cursor, calls)
            # After the history rows: the newer of the two wins in latest_metrics.
            stmts.metrics.upsert_latest(cursor, latest)
        if params:
            stmts.insert_params.run(cursor, params)
        if tags:
            stmts.upsert_tags.run(cursor, tags)
        if span_rows:
            stmts.upsert_spans.run(cursor, span_rows)
            _write_traces(cursor, stmts, span_rows, batch.traces)
        return skipped

    if not (param_rows or tag_rows or span_rows or runs):
        return {}
    return db.write_raw(write, retry_integrity=True)


# Column positions in an ``llm_calls`` row (run_id, step, timestamp, *CALL_METRICS values), and
# each running total with the per-call value it sums (None: it counts calls).
_CALL_VALUES = 3
_CALLS_AT = _CALL_VALUES + CALL_METRICS.index("llm.calls")
_TOTALS = [
    (
        _CALL_VALUES + CALL_METRICS.index(total),
        None if per_call is None else _CALL_VALUES + CALL_METRICS.index(per_call),
    )
    for total, per_call in (
        ("llm.calls", None),
        ("llm.cumulative_input_tokens", "llm.input_tokens"),
        ("llm.cumulative_output_tokens", "llm.output_tokens"),
        ("llm.cumulative_tokens", "llm.total_tokens"),
        ("llm.cumulative_cost_usd", "llm.cost_usd"),
    )
]
_TOTAL_KEYS = [CALL_METRICS[at - _CALL_VALUES] for at, _ in _TOTALS]


def _rebased_calls(
    cursor: Any,
    stmts: BulkStatements,
    calls: list[tuple[Any, ...]],
    latest: dict[str, list[MetricRow]],
) -> tuple[list[tuple[Any, ...]], dict[str, list[MetricRow]]]:
    """``calls`` renumbered after the calls stored meanwhile by another writer (see the module
    doc); the common case (the store holds exactly the calls the exporter counted) reads one
    ``latest_metrics`` row per run and changes nothing."""
    first: dict[str, tuple[Any, ...]] = {}
    for row in calls:
        known = first.get(row[0])
        if known is None or row[1] < known[1]:
            first[row[0]] = row
    run_ids = sorted(first)
    p = "%s" if stmts.postgres else "?"
    if stmts.postgres:  # no other transaction adds calls to these runs until this one ends
        for chunk in chunks(run_ids):
            where, args = stmts.in_clause("run_id", chunk)
            cursor.execute(
                f"SELECT run_id FROM runs WHERE {where} ORDER BY run_id FOR UPDATE", args
            )
            cursor.fetchall()
    keys = ", ".join([p] * len(_TOTAL_KEYS))
    stored: dict[str, dict[str, float]] = {}
    for chunk in chunks(run_ids):
        where, args = stmts.in_clause("run_id", chunk)
        cursor.execute(
            f'SELECT run_id, "key", value FROM latest_metrics WHERE {where} AND "key" IN ({keys})',
            [*args, *_TOTAL_KEYS],
        )
        for run_id, key, value in cursor.fetchall():
            stored.setdefault(run_id, {})[key] = value
    shifts: dict[str, list[float]] = {}
    for run_id, row in first.items():
        have = stored.get(run_id, {})
        counted = row[_CALLS_AT]
        if counted is None or row[1] != counted - 1:
            continue  # not numbered by an exporter (step = calls before it): left as given
        if float(have.get("llm.calls") or 0) <= counted - 1:
            continue  # no calls added by another writer since the exporter counted
        deltas = []
        for (at, per_call), key in zip(_TOTALS, _TOTAL_KEYS, strict=True):
            own = 1 if per_call is None else (row[per_call] or 0)
            before = (row[at] or 0) - own  # this total before the batch, as the exporter saw it
            deltas.append(float(have.get(key) or 0) - before)
        shifts[run_id] = deltas
    if not shifts:
        return calls, latest
    rebased: list[tuple[Any, ...]] = []
    for row in calls:
        shift = shifts.get(row[0])
        if shift is None:
            rebased.append(row)
            continue
        values = list(row)
        values[1] = row[1] + int(shift[0])  # the step: the call's index in the run
        for (at, _), delta in zip(_TOTALS, shift, strict=True):
            if values[at] is not None:
                values[at] = values[at] + (int(delta) if at == _CALLS_AT else delta)
        rebased.append(tuple(values))
    new_latest = dict(latest)
    for run_id in shifts:
        new_latest[run_id] = latest_of_calls([r[1:] for r in rebased if r[0] == run_id])
    return rebased, new_latest


def write_export_batch(
    db: Writer | Database,
    stmts: BulkStatements,
    runs: Mapping[str, Any],
    spans: Sequence[SpanRecord],
) -> dict[str, str]:
    """Write ``runs`` (run_id -> (metrics, params, tags)) and ``spans`` in one transaction.

    Returns {run_id: reason} for the runs left out (unknown or deleted).
    """
    return write_prepared_batch(db, stmts, prepare_export_batch(stmts, runs, spans))
