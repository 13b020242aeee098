"""Pure conversion of OpenTelemetry SDK spans into ``SpanRecord`` entities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from spanrun.tracking.entities import SpanEvent, SpanRecord

__all__ = ["hex_span_id", "hex_trace_id", "plain_attributes", "span_to_record"]


def hex_trace_id(trace_id: int) -> str:
    return format(trace_id, "032x")


def hex_span_id(span_id: int) -> str:
    return format(span_id, "016x")


def plain_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """OTel attribute values as JSON-ready values (sequences become lists)."""
    if not attributes:
        return {}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}


def span_to_record(
    span: ReadableSpan, run_id: str | None = None, experiment_id: str | None = None
) -> SpanRecord:
    """Convert one finished span; ``run_id``/``experiment_id`` are the run it was mapped to."""
    ctx = span.context
    parent = span.parent
    status = span.status
    start = span.start_time or 0
    return SpanRecord(
        trace_id=hex_trace_id(ctx.trace_id),
        span_id=hex_span_id(ctx.span_id),
        parent_span_id=hex_span_id(parent.span_id) if parent is not None else None,
        name=span.name,
        kind=span.kind.name,
        start_time_ns=start,
        end_time_ns=span.end_time or start,
        status_code=status.status_code.name,
        status_message=status.description or "",
        attributes=plain_attributes(span.attributes),
        events=tuple(
            SpanEvent(e.name, e.timestamp, plain_attributes(e.attributes)) for e in span.events
        ),
        resource=plain_attributes(span.resource.attributes) if span.resource else {},
        run_id=run_id,
        experiment_id=experiment_id,
    )
