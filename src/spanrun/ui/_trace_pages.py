"""Traces of an experiment or a run (filtered by status, name, latency) and one trace's view:
span tree with a timing waterfall, attributes, events, GenAI messages, errors."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from spanrun.core.entities import SpanRecord
from spanrun.errors import InvalidInputError, NotFoundError
from spanrun.store import Store, TraceFilter
from spanrun.ui._http import int_param
from spanrun.ui._render import page

__all__ = ["span_json", "trace_page", "traces_page"]

PAGE_SIZE = 100
#: How far a listing pages (traces skipped at most).
MAX_SCANNED = 10_000
STATUSES = ("", "OK", "ERROR")


def traces_page(store: Store, request: Request) -> Response:
    """Traces of ``experiment_id`` or ``run_id``, filtered by ``status``, ``name``, ``min_ms``."""
    q = request.query_params
    experiment_id = q.get("experiment_id") or None
    run_id = q.get("run_id") or None
    if experiment_id is None and run_id is None:
        raise InvalidInputError("Give an 'experiment_id' or a 'run_id'")
    status = q.get("status", "")
    if status not in STATUSES:
        raise InvalidInputError(f"Unknown status {status!r}")
    name = q.get("name", "")
    min_ms = int_param(request, "min_ms", 0, 0, 10**9)
    offset = int_param(request, "offset", 0, 0, MAX_SCANNED)
    experiment = store.get_experiment(experiment_id) if experiment_id else None
    run = store.get_run(run_id) if run_id else None
    # Filtered in the store's query; a page is the slice after ``offset`` (bounded).
    found = store.search_traces(
        [experiment_id] if experiment_id else None,
        run_id,
        offset + PAGE_SIZE + 1,
        None,
        None,
        TraceFilter(status=status or None, name=name or None, min_duration_ms=min_ms or None),
    )
    shown = list(found[offset : offset + PAGE_SIZE])
    more = len(found) > offset + PAGE_SIZE
    state = {
        "experiment_id": experiment_id,
        "run_id": run_id,
        "status": status,
        "name": name,
        "min_ms": min_ms or None,
    }
    return page(
        "traces.html",
        title="Traces",
        experiment=experiment,
        run=run,
        traces=shown,
        state=state,
        offset=offset,
        more=more,
        page_size=PAGE_SIZE,
        show_run=True,
    )


def span_json(span: SpanRecord, origin_ns: int) -> dict[str, Any]:
    """A span as the trace page's script reads it (times in ms from the trace's start)."""
    return {
        "id": span.span_id,
        "parent": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start": (span.start_time_ns - origin_ns) / 1e6,
        "end": (span.end_time_ns - origin_ns) / 1e6,
        "status": span.status_code,
        "message": span.status_message,
        "attributes": span.attributes,
        "events": [
            {
                "name": e.name,
                "time": (e.timestamp_ns - origin_ns) / 1e6,
                "attributes": e.attributes,
            }
            for e in span.events
        ],
    }


def _total(spans: tuple[SpanRecord, ...], key: str) -> float:
    total = 0.0
    for span in spans:
        value = span.attributes.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total += value
    return total


def trace_page(store: Store, request: Request, trace_id: str) -> Response:
    """One trace: its spans go to the page as JSON, the tree is built by the script."""
    trace = store.get_trace(trace_id)
    origin = min((s.start_time_ns for s in trace.spans), default=trace.info.start_time_ns)
    totals = {
        "input tokens": _total(trace.spans, "gen_ai.usage.input_tokens"),
        "output tokens": _total(trace.spans, "gen_ai.usage.output_tokens"),
    }
    run = None
    if trace.info.run_id:
        try:
            run = store.get_run(trace.info.run_id)
        except NotFoundError:  # the trace is shown without its run's link
            run = None
    return page(
        "trace.html",
        title=trace.info.name or trace_id,
        trace=trace.info,
        run=run,
        totals={k: v for k, v in totals.items() if v},
        errors=sum(1 for s in trace.spans if s.status_code == "ERROR"),
        spans=[span_json(s, origin) for s in trace.spans],
        duration_ms=(trace.info.end_time_ns - origin) / 1e6,
    )
