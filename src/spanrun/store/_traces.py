"""Storing spans and deriving trace rows from them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.core.entities import SpanEvent, SpanRecord, Trace, TraceInfo
from spanrun.errors import InvalidFilterError, InvalidInputError, NotFoundError
from spanrun.store import _models as m

__all__ = [
    "TraceStatements",
    "read_trace",
    "search_query",
    "span_rows",
    "trace_info",
    "write_spans",
]

_log = logging.getLogger(__name__)

_ORDER_COLUMNS = {
    "start_time": m.traces.c.start_time_ns,
    "timestamp": m.traces.c.start_time_ns,
    "timestamp_ms": m.traces.c.start_time_ns,
    "end_time": m.traces.c.end_time_ns,
    "name": m.traces.c.name,
    "status": m.traces.c.status,
    "span_count": m.traces.c.span_count,
}


def _dumps(value: Any) -> str:
    # default=str: an odd attribute value is kept as text rather than failing the whole batch.
    return json.dumps(value, default=str, separators=(",", ":"))


def _time_ns(value: object, span_name: str) -> int:
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number < 2**63:
        raise InvalidInputError(f"Span {span_name!r} has an invalid time {value!r} (ns)")
    return number


def span_rows(spans: Sequence[SpanRecord]) -> list[dict[str, Any]]:
    """Rows for the spans table, one per (trace_id, span_id) (the last one wins)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for s in spans:
        if not (
            s.trace_id
            and s.span_id
            and len(s.trace_id) <= 32
            and len(s.span_id) <= 16
            and len(s.parent_span_id or "") <= 16
        ):
            raise InvalidInputError(
                f"Span {s.name!r} needs a trace_id (at most 32 hex digits) and a span_id (at "
                f"most 16): got {s.trace_id!r} and {s.span_id!r}"
            )
        run_id = str(s.run_id) if s.run_id else None
        experiment_id = str(s.experiment_id) if s.experiment_id is not None else None
        if (run_id and len(run_id) > 32) or (experiment_id and len(experiment_id) > 32):
            raise InvalidInputError(f"Span {s.name!r} has an invalid run or experiment id")
        rows[(s.trace_id, s.span_id)] = {
            "trace_id": s.trace_id,
            "span_id": s.span_id,
            "parent_span_id": s.parent_span_id or None,
            "name": s.name or "",
            "kind": s.kind or "INTERNAL",
            "start_time_ns": _time_ns(s.start_time_ns, s.name),
            "end_time_ns": _time_ns(s.end_time_ns, s.name),
            "status_code": s.status_code or "UNSET",
            "status_message": s.status_message or "",
            "attributes": _dumps(dict(s.attributes or {})),
            "events": _dumps(
                [
                    {
                        "name": e.name,
                        "timestamp_ns": e.timestamp_ns,
                        "attributes": dict(e.attributes or {}),
                    }
                    for e in s.events or ()
                ]
            ),
            "resource": _dumps(dict(s.resource or {})),
            "run_id": run_id,
            "experiment_id": experiment_id,
        }
    return list(rows.values())


class TraceStatements:
    """The statements of :func:`write_spans`, built once per store (for its dialect)."""

    def __init__(self, insert: Callable[[sa.Table], Any]) -> None:
        ins = insert(m.spans)
        self.upsert_spans = ins.on_conflict_do_update(
            index_elements=[m.spans.c.trace_id, m.spans.c.span_id],
            set_={c.name: ins.excluded[c.name] for c in m.spans.c if not c.primary_key},
        )
        tins = insert(m.traces)
        self.upsert_traces = tins.on_conflict_do_update(
            index_elements=[m.traces.c.trace_id],
            set_={c.name: tins.excluded[c.name] for c in m.traces.c if not c.primary_key},
        )
        s = m.spans.c
        trace_ids: sa.BindParameter[Any] = sa.bindparam("trace_ids", expanding=True)
        self.aggregate = (
            sa.select(
                s.trace_id,
                sa.func.min(s.start_time_ns),
                sa.func.max(s.end_time_ns),
                sa.func.count(),
                sa.func.max(sa.case((s.status_code == "ERROR", 1), else_=0)),
                sa.func.max(s.run_id),
                sa.func.max(s.experiment_id),
            )
            .where(s.trace_id.in_(trace_ids))
            .group_by(s.trace_id)
        )
        # Each trace's root: a span without parent, else the earliest whose parent is not
        # stored (a trace continued from another service).
        span, parent = m.spans.alias("s"), m.spans.alias("p")
        parent_missing = ~sa.exists().where(
            parent.c.trace_id == span.c.trace_id, parent.c.span_id == span.c.parent_span_id
        )
        self.root_names = (
            sa.select(span.c.trace_id, span.c.name)
            .where(
                span.c.trace_id.in_(trace_ids),
                sa.or_(span.c.parent_span_id.is_(None), parent_missing),
            )
            .order_by(span.c.trace_id, span.c.parent_span_id.is_not(None), span.c.start_time_ns)
        )


def write_spans(conn: sa.Connection, stmts: TraceStatements, rows: list[dict[str, Any]]) -> None:
    """Upsert the spans, then recompute the rows of the traces they belong to."""
    conn.execute(stmts.upsert_spans, rows)
    trace_ids: dict[str, Any] = {"trace_ids": sorted({r["trace_id"] for r in rows})}
    names: dict[str, str] = {}
    for trace_id, name in conn.execute(stmts.root_names, trace_ids):
        names.setdefault(trace_id, name)
    trace_rows = [
        {
            "trace_id": trace_id,
            "start_time_ns": start,
            "end_time_ns": end,
            "span_count": count,
            "status": "ERROR" if error else "OK",
            "run_id": run_id,
            "experiment_id": experiment_id,
            "name": names.get(trace_id, ""),
        }
        for trace_id, start, end, count, error, run_id, experiment_id in conn.execute(
            stmts.aggregate, trace_ids
        )
    ]
    conn.execute(stmts.upsert_traces, trace_rows)


def trace_info(row: sa.Row[Any]) -> TraceInfo:
    return TraceInfo(
        trace_id=row.trace_id,
        run_id=row.run_id,
        experiment_id=row.experiment_id,
        name=row.name,
        start_time_ns=row.start_time_ns,
        end_time_ns=row.end_time_ns,
        status=row.status,
        span_count=row.span_count,
    )


def _loads(text: str, default: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        _log.warning("unreadable JSON in a stored span: %.80r", text)
        return default


def _span(row: sa.Row[Any]) -> SpanRecord:
    events = tuple(
        SpanEvent(
            name=e.get("name", ""),
            timestamp_ns=e.get("timestamp_ns", 0),
            attributes=e.get("attributes") or {},
        )
        for e in _loads(row.events, [])
    )
    return SpanRecord(
        trace_id=row.trace_id,
        span_id=row.span_id,
        parent_span_id=row.parent_span_id,
        name=row.name,
        kind=row.kind,
        start_time_ns=row.start_time_ns,
        end_time_ns=row.end_time_ns,
        status_code=row.status_code,
        status_message=row.status_message,
        attributes=_loads(row.attributes, {}),
        events=events,
        resource=_loads(row.resource, {}),
        run_id=row.run_id,
        experiment_id=row.experiment_id,
    )


def read_trace(conn: sa.Connection, trace_id: str) -> Trace:
    row = conn.execute(sa.select(m.traces).where(m.traces.c.trace_id == trace_id)).first()
    if row is None:
        raise NotFoundError(f"Trace {trace_id!r} not found")
    spans = conn.execute(
        sa.select(m.spans)
        .where(m.spans.c.trace_id == trace_id)
        .order_by(m.spans.c.start_time_ns, m.spans.c.span_id)
    )
    return Trace(info=trace_info(row), spans=tuple(_span(s) for s in spans))


def search_query(
    experiment_ids: Sequence[str] | None,
    run_id: str | None,
    order_by: Sequence[str] | None,
    offset: int,
    limit: int,
) -> sa.Select[Any]:
    """Traces of the given experiments and/or run, newest first unless order_by says otherwise."""
    t = m.traces.c
    stmt = sa.select(m.traces)
    if experiment_ids is not None:
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        stmt = stmt.where(t.experiment_id.in_([str(e) for e in experiment_ids]))
    if run_id is not None:
        stmt = stmt.where(t.run_id == run_id)
    order: list[Any] = []
    for clause in order_by or ():
        field, _, direction = str(clause).strip().partition(" ")
        column = _ORDER_COLUMNS.get(field.strip().lower())
        direction = direction.strip().upper() or "ASC"
        if column is None or direction not in ("ASC", "DESC"):
            raise InvalidFilterError(
                f"Invalid trace order_by clause {clause!r} (expected one of "
                f"{', '.join(sorted(_ORDER_COLUMNS))}, optionally followed by ASC or DESC)"
            )
        order.append(column.asc() if direction == "ASC" else column.desc())
    order += [t.start_time_ns.desc(), t.trace_id]
    return stmt.order_by(*order).offset(offset).limit(limit)
