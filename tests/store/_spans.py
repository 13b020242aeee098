"""A stored span for store tests: CLIENT, 100 ns long, one service resource."""

from __future__ import annotations

from typing import Any

from spanrun.core.entities import SpanRecord


def make_span(trace_id: str, span_id: str, parent: str | None, start: int, **kw: Any) -> SpanRecord:
    """Other SpanRecord fields (name, attributes, run_id, ...) may be given in ``kw``."""
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=kw.pop("name", f"span {span_id[:2]}"),
        kind="CLIENT",
        start_time_ns=start,
        end_time_ns=start + 100,
        attributes=kw.pop("attributes", {"gen_ai.usage.input_tokens": 3}),
        resource={"service.name": "svc"},
        **kw,
    )
