"""With sibling workers (``spanrun server --workers N``) a retried LLM span may reach another
worker than the one that committed it: the receiver then checks every span it did not commit
against the store (``clock_skew_s=inf``), in one read per request."""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

from spanrun.core.entities import SpanRecord
from spanrun.server.otlp import receiver_from_environment
from spanrun.server.otlp._counted import CountedCalls, Ticket

TRACE = "7" * 32


def _span(span_id: int) -> ReadableSpan:
    now = time.time_ns()
    context = SpanContext(int(TRACE, 16), span_id, False)
    attributes = {"gen_ai.operation.name": "chat"}
    return ReadableSpan("s", context, attributes=attributes, start_time=now, end_time=now)


def _stored(span: ReadableSpan) -> SpanRecord:
    return SpanRecord(
        trace_id=TRACE,
        span_id=format(span.context.span_id, "016x"),
        parent_span_id=None,
        name="s",
        kind="CLIENT",
        start_time_ns=span.start_time or 0,
        end_time_ns=span.end_time or 0,
        attributes={},
        resource={},
    )


def test_every_span_not_committed_here_is_checked_in_the_store(store: Any) -> None:
    taken_elsewhere, new = _span(1), _span(2)
    store.log_spans([_stored(taken_elsewhere)])  # committed by a sibling worker
    # One process, started a while ago: a span newer than its start is not looked up.
    alone = CountedCalls(store, clock_skew_s=0.0, started_ns=time.time_ns() - 10**9)
    assert alone.fresh([taken_elsewhere], Ticket())[0] == [taken_elsewhere]
    siblings = CountedCalls(store, clock_skew_s=float("inf"))
    keep, waits = siblings.fresh([taken_elsewhere, new], Ticket())
    assert keep == [new] and waits == set()


@pytest.mark.parametrize(("workers", "checks_all"), [("", False), ("1", False), ("3", True)])
def test_the_server_factory_checks_all_spans_with_sibling_workers(
    store: Any, monkeypatch: pytest.MonkeyPatch, workers: str, checks_all: bool
) -> None:
    monkeypatch.setenv("SPANRUN_SERVER_WORKERS", workers)
    receiver = receiver_from_environment(store)
    assert (receiver._clock_skew_s == float("inf")) is checks_all
