"""Idempotent ingest: an LLM span sent again (a sender's retry) is not counted again.

The store keeps spans idempotently per (trace_id, span_id), but each LLM call also adds
metrics at the run's next step; a retried batch would count its calls twice. A sender retries
what it got no 200 for: either the receiver refused it (nothing was written) or the answer was
lost after the write committed (a timeout, or the server died between commit and answer).
So the receiver remembers the LLM spans it committed (the last ``max_remembered``), and for
spans that ended before this receiver started (give or take ``clock_skew_s``: the only ones a
previous server process can have taken) asks the store whether the span is there already.
Spans and their calls are written in one transaction, so a stored span means a counted call.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from spanrun.errors import NotFoundError
from spanrun.exporters import llm_operation
from spanrun.store import Store

__all__ = ["CountedCalls"]

SpanKey = tuple[int, int]  # (trace_id, span_id)


class CountedCalls:
    """Which LLM spans were committed already, in this process or before it started."""

    def __init__(
        self,
        store: Store,
        *,
        clock_skew_s: float = 10.0,
        max_remembered: int = 200_000,
        started_ns: int | None = None,
    ) -> None:
        self._store = store
        self._max = max_remembered
        started = time.time_ns() if started_ns is None else started_ns
        # Spans that ended after this could not have reached a previous process.
        self._horizon_ns = started + int(clock_skew_s * 1e9)
        self._committed: OrderedDict[SpanKey, None] = OrderedDict()

    def fresh(self, spans: Sequence[ReadableSpan]) -> tuple[list[ReadableSpan], list[SpanKey]]:
        """The spans to map, in their order, without the LLM spans already counted; and the
        keys of the LLM spans among them (to :meth:`remember` once committed)."""
        committed, horizon = self._committed, self._horizon_ns
        seen: set[SpanKey] = set()
        plan: list[tuple[ReadableSpan, SpanKey | None]] = []  # key None: not an LLM span
        to_check: set[int] = set()  # traces to ask the store about
        for span in spans:
            attributes = span.attributes
            if not attributes or llm_operation(attributes) is None:
                plan.append((span, None))
                continue
            context = span.context
            call = (context.trace_id, context.span_id)
            if call in committed or call in seen:
                continue
            seen.add(call)
            if (span.end_time or 0) <= horizon:
                to_check.add(call[0])
            plan.append((span, call))
        stored = {(t, s) for t in to_check for s in self._stored_span_ids(t)}
        keep: list[ReadableSpan] = []
        calls: list[SpanKey] = []
        for span, key in plan:
            if key is None:
                keep.append(span)
            elif key in stored:
                self._add(key)  # no need to ask again
            else:
                keep.append(span)
                calls.append(key)
        return keep, calls

    def remember(self, keys: Sequence[SpanKey]) -> None:
        """These LLM spans were committed."""
        for key in keys:
            self._add(key)

    def _add(self, key: SpanKey) -> None:
        committed = self._committed
        committed[key] = None
        if len(committed) > self._max:
            committed.popitem(last=False)

    def _stored_span_ids(self, trace_id: int) -> set[int]:
        try:
            trace = self._store.get_trace(format(trace_id, "032x"))
        except NotFoundError:
            return set()
        return {int(s.span_id, 16) for s in trace.spans}
