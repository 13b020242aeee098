"""Reading traces: rows to entities, one trace with its spans, trace search. (Spans are
written, and trace rows derived from them, by the export-batch transaction: _export_batch.)"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.core.entities import SpanEvent, SpanRecord, Trace, TraceInfo
from spanrun.errors import InvalidFilterError, NotFoundError
from spanrun.store import _models as m

__all__ = ["read_trace", "search_query", "trace_info"]

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
