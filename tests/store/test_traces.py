"""Spans and traces: idempotent upsert, derived trace rows, search and paging."""

from __future__ import annotations

import pytest

from spanrun.core.entities import SpanEvent, SpanRecord
from spanrun.errors import InvalidFilterError, InvalidInputError, NotFoundError
from spanrun.store import SqlAlchemyStore

T1 = "0af7651916cd43dd8448eb211c80319c"
T2 = "1bf7651916cd43dd8448eb211c80319c"


def _span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    start: int,
    *,
    name: str = "",
    status: str = "OK",
    run_id: str | None = None,
    experiment_id: str | None = None,
) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name or f"span {span_id}",
        kind="CLIENT",
        start_time_ns=start,
        end_time_ns=start + 1_000,
        status_code=status,
        attributes={"gen_ai.request.model": "gpt-4o", "n": 3, "f": 0.5, "ok": True, "l": ("a",)},
        events=(SpanEvent("boom", start + 5, {"exception.type": "ValueError"}),),
        resource={"service.name": "svc"},
        run_id=run_id,
        experiment_id=experiment_id,
    )


def test_trace_is_built_from_its_spans(store: SqlAlchemyStore) -> None:
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    child = _span(T1, "b" * 16, "a" * 16, 2_000, status="ERROR")
    store.log_spans([child])
    info = store.get_trace(T1).info
    assert (info.name, info.span_count, info.status) == ("span " + "b" * 16, 1, "ERROR")
    assert info.run_id is None

    root = _span(T1, "a" * 16, None, 1_000, name="chain", run_id=run_id, experiment_id="0")
    store.log_spans([root])
    trace = store.get_trace(T1)
    assert trace.info.name == "chain"
    assert (trace.info.run_id, trace.info.experiment_id) == (run_id, "0")
    assert (trace.info.start_time_ns, trace.info.end_time_ns) == (1_000, 3_000)
    assert (trace.info.span_count, trace.info.status) == (2, "ERROR")
    assert [s.span_id for s in trace.spans] == ["a" * 16, "b" * 16]
    assert trace.root_spans == [trace.spans[0]]
    stored = trace.spans[1]
    assert stored.attributes == {
        "gen_ai.request.model": "gpt-4o",
        "n": 3,
        "f": 0.5,
        "ok": True,
        "l": ["a"],
    }
    assert stored.events == (SpanEvent("boom", 2_005, {"exception.type": "ValueError"}),)
    assert stored.resource == {"service.name": "svc"}
    assert (stored.kind, stored.status_code, stored.parent_span_id) == ("CLIENT", "ERROR", "a" * 16)


def test_log_spans_is_idempotent(store: SqlAlchemyStore) -> None:
    spans = [_span(T1, "a" * 16, None, 1_000), _span(T1, "b" * 16, "a" * 16, 1_500)]
    store.log_spans(spans)
    store.log_spans(spans)  # an exporter retrying the batch
    store.log_spans([spans[1], spans[1]])  # duplicates inside one batch
    trace = store.get_trace(T1)
    assert trace.info.span_count == 2 and len(trace.spans) == 2
    assert trace.info.status == "OK"


def test_remote_parent_counts_as_root(store: SqlAlchemyStore) -> None:
    store.log_spans(
        [_span(T1, "c" * 16, "f" * 16, 10, name="server"), _span(T1, "d" * 16, "c" * 16, 20)]
    )
    assert store.get_trace(T1).info.name == "server"


def test_search_traces(store: SqlAlchemyStore) -> None:
    exp = store.create_experiment("traces")
    run_a = store.create_run(exp, "u", 1, [], "a").info.run_id
    ids = [f"{i:032x}" for i in range(5)]
    for i, trace_id in enumerate(ids):
        run = run_a if i % 2 == 0 else None
        store.log_spans(
            [_span(trace_id, "a" * 16, None, 1_000 * (i + 1), run_id=run, experiment_id=exp)]
        )
    store.log_spans([_span(T2, "a" * 16, None, 99_000)])  # no experiment at all

    newest_first = [t.trace_id for t in store.search_traces([exp])]
    assert newest_first == ids[::-1]
    assert [t.trace_id for t in store.search_traces(run_id=run_a)] == [ids[4], ids[2], ids[0]]
    assert [t.trace_id for t in store.search_traces([exp], run_id=run_a, max_results=1)] == [ids[4]]
    assert store.search_traces()[0].trace_id == T2
    assert list(store.search_traces(["999"])) == []
    oldest = store.search_traces([exp], order_by=["timestamp_ms ASC"])
    assert [t.trace_id for t in oldest] == ids

    page = store.search_traces([exp], max_results=2)
    seen = [t.trace_id for t in page]
    while page.token:
        page = store.search_traces([exp], max_results=2, page_token=page.token)
        seen += [t.trace_id for t in page]
    assert seen == ids[::-1]


def test_trace_errors(store: SqlAlchemyStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_trace(T1)
    with pytest.raises(InvalidFilterError):
        store.search_traces(order_by=["color DESC"])
    with pytest.raises(InvalidInputError):
        store.log_spans([_span("", "a" * 16, None, 1)])
    store.log_spans([])  # nothing to do


def test_bad_ids_are_typed_errors(store: SqlAlchemyStore) -> None:
    with pytest.raises(InvalidInputError):
        store.log_spans([_span("f" * 33, "a" * 16, None, 1)])
    with pytest.raises(InvalidInputError):
        store.log_spans([_span(T1, "a" * 17, None, 1)])
    with pytest.raises(InvalidInputError):
        store.log_spans([_span(T1, "a" * 16, "b" * 17, 1)])
    with pytest.raises(InvalidInputError):
        store.log_spans([_span(T1, "c" * 16, None, 1), _span(T1, "a" * 16, None, 2**63)])
    with pytest.raises(NotFoundError):
        store.get_trace(T1)  # nothing of the rejected batches was stored
