"""Idempotent ingest: an LLM span sent again (a sender's retry) is not counted again.

The store keeps spans idempotently per (trace_id, span_id), but each LLM call also adds
metrics at the run's next step; a retried batch would count its calls twice. A sender retries
what it got no 200 for: either the receiver refused it (nothing was written) or the answer was
lost after the write committed (a timeout, or the server died between commit and answer).
So the receiver remembers the LLM spans it committed (the last ``max_remembered``), and for
spans that ended before this receiver started (give or take ``clock_skew_s``: the only ones a
previous server process can have taken) asks the store whether the span is there already.
Spans and their calls are written in one transaction, so a stored span means a counted call.

A span sent again while its first copy is still being written (in flight under another
export's :class:`Ticket`) is not mapped again either; the request that carried the copy then
succeeds only if that earlier write does (else its sender retries, and the span is counted).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from spanrun.exporters import llm_operation
from spanrun.store import Store

__all__ = ["CountedCalls", "Ticket"]

SpanKey = tuple[int, int]  # (trace_id, span_id)
_NO_HORIZON = 2**64  # beyond any span's end time


class Ticket:
    """One export's LLM spans and, once its write is over, whether it committed (``ok``)."""

    __slots__ = ("keys", "ok")

    def __init__(self) -> None:
        self.ok: bool | None = None
        self.keys: list[SpanKey] = []


class CountedCalls:
    """Which LLM spans were committed already, in this process or before it started.

    :meth:`fresh` runs on the ingest thread, :meth:`settle` on the exporter's writer thread.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock_skew_s: float = 5.0,
        max_remembered: int = 200_000,
        started_ns: int | None = None,
    ) -> None:
        self._store = store
        self._max = max_remembered
        started = time.time_ns() if started_ns is None else started_ns
        # Spans that ended after this could not have reached a previous process. Infinite:
        # other processes take this sender's spans too (the workers of one server), so any
        # span this one did not commit may be in the store.
        self._horizon_ns = (
            _NO_HORIZON if math.isinf(clock_skew_s) else started + int(clock_skew_s * 1e9)
        )
        self._lock = threading.Lock()
        self._committed: OrderedDict[SpanKey, None] = OrderedDict()
        self._in_flight: dict[SpanKey, Ticket] = {}

    def fresh(
        self, spans: Sequence[ReadableSpan], ticket: Ticket
    ) -> tuple[list[ReadableSpan], set[Ticket]]:
        """The spans to map, in their order, without the LLM spans already counted or in
        flight; those kept are put in flight under ``ticket``. Also returns the tickets of the
        earlier exports holding the copies left out (the request succeeds only if they do)."""
        plan: list[tuple[ReadableSpan, SpanKey | None]] = []  # key None: not an LLM span
        to_check: set[int] = set()  # traces to ask the store about
        horizon = self._horizon_ns
        with self._lock:
            known, in_flight = self._committed, self._in_flight
            for span in spans:
                attributes = span.attributes
                if not attributes or llm_operation(attributes) is None:
                    plan.append((span, None))
                    continue
                context = span.context
                key = (context.trace_id, context.span_id)
                plan.append((span, key))
                if key not in known and key not in in_flight and (span.end_time or 0) <= horizon:
                    to_check.add(key[0])
        # Outside the lock (one store round trip); only this thread puts spans in flight.
        stored = self._stored(to_check)
        keep: list[ReadableSpan] = []
        waits_for: set[Ticket] = set()
        with self._lock:
            for span, call in plan:
                if call is None:
                    keep.append(span)
                elif call in self._committed:
                    continue
                elif call in self._in_flight:
                    waits_for.add(self._in_flight[call])
                elif call in stored:
                    self._remember(call)
                else:
                    self._in_flight[call] = ticket
                    ticket.keys.append(call)
                    keep.append(span)
        return keep, waits_for

    def settle(self, ticket: Ticket, ok: bool) -> None:
        """The write of ``ticket``'s spans is over: committed (``ok``) or given up."""
        with self._lock:
            ticket.ok = ok
            in_flight = self._in_flight
            for call in ticket.keys:
                if in_flight.get(call) is ticket:
                    del in_flight[call]
                if ok:
                    self._remember(call)

    def _remember(self, call: SpanKey) -> None:
        committed = self._committed
        committed[call] = None
        if len(committed) > self._max:
            committed.popitem(last=False)

    def _stored(self, trace_ids: set[int]) -> set[SpanKey]:
        """The (trace_id, span_id) stored for ``trace_ids``, asked in one bulk read."""
        if not trace_ids:
            return set()
        found = self._store.stored_span_ids([format(t, "032x") for t in trace_ids])
        return {(int(t, 16), int(s, 16)) for t, spans in found.items() for s in spans}
