"""log_export_batch: an exporter batch in one transaction, on both backends, and the same
outcome from the Store base class's generic version (log_batch + log_spans)."""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from typing import Any

import pytest

from spanrun.core.entities import Metric, Param, SpanRecord
from spanrun.core.vocabulary import CALL_METRICS
from spanrun.errors import InvalidInputError, NotFoundError
from spanrun.store import SqlAlchemyStore, Store
from tests.store._spans import make_span as _span

T1 = "1" * 32
T2 = "2" * 32


@pytest.fixture(params=["bulk", "generic"])
def export(request: pytest.FixtureRequest, store: SqlAlchemyStore) -> Callable[..., dict[str, str]]:
    """The store's one-transaction version, or the base class's generic one."""
    if request.param == "bulk":
        return store.log_export_batch
    return lambda runs, spans=(): Store.log_export_batch(store, runs, spans)


def test_runs_metrics_params_tags(store: SqlAlchemyStore, export: Callable[..., Any]) -> None:
    a = store.create_run("0", "u", 1, [], "a").info.run_id
    b = store.create_run("0", "u", 1, [], "b").info.run_id
    store.log_batch(a, params=[Param("llm.model", "gpt-4o")])
    skipped = export(
        {
            a: (
                [("llm.calls", 1.0, 10, 0), ("llm.calls", 2.0, 11, 1), ("x", math.nan, 5, 0)],
                {"llm.model": "other", "llm.temperature": "0.2"},  # the first value wins
                {"spanrun.llm.params_varied": "true"},
            ),
            b: ([("llm.calls", 7, 10, 3)], {}, {}),
        }
    )
    assert skipped == {}
    data = store.get_run(a).data
    assert data.metrics["llm.calls"] == 2.0 and math.isnan(data.metrics["x"])
    assert data.params == {"llm.model": "gpt-4o", "llm.temperature": "0.2"}
    assert data.tags["spanrun.llm.params_varied"] == "true"
    assert [m.value for m in store.get_metric_history(a, "llm.calls")] == [1.0, 2.0]
    assert store.get_run(b).data.metrics == {"llm.calls": 7.0}
    # An older step never replaces the latest value.
    export({b: ([("llm.calls", 1.0, 99, 2)], {}, {})})
    assert store.get_run(b).data.metrics == {"llm.calls": 7.0}
    assert len(store.get_metric_history(b, "llm.calls")) == 2


def test_unknown_and_deleted_runs_are_left_out(
    store: SqlAlchemyStore, export: Callable[..., Any]
) -> None:
    ok = store.create_run("0", "u", 1, [], "ok").info.run_id
    gone = store.create_run("0", "u", 1, [], "gone").info.run_id
    store.delete_run(gone)
    missing = "f" * 32
    skipped = export(
        {
            ok: ([("m", 1.0, 1, 0)], {"p": "1"}, {}),
            gone: ([("m", 1.0, 1, 0)], {"p": "1"}, {}),
            missing: ([("m", 1.0, 1, 0)], {}, {}),
        }
    )
    assert set(skipped) == {gone, missing}
    assert "deleted" in skipped[gone] and "not found" in skipped[missing]
    assert store.get_run(ok).data.metrics == {"m": 1.0}
    assert store.get_run(gone).data.metrics == {} and store.get_run(gone).data.params == {}
    with pytest.raises(NotFoundError):
        store.get_run(missing)


def test_spans_and_traces(store: SqlAlchemyStore, export: Callable[..., Any]) -> None:
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    root = _span(T1, "a" * 16, None, 1_000, name="chain", run_id=run_id, experiment_id="0")
    child = _span(T1, "b" * 16, "a" * 16, 1_050, status_code="ERROR")
    lone = _span(T2, "c" * 16, None, 5_000, name="chat gpt-4o")
    assert export({}, [child, lone, root]) == {}
    trace = store.get_trace(T1)
    assert (trace.info.name, trace.info.span_count, trace.info.status) == ("chain", 2, "ERROR")
    assert (trace.info.run_id, trace.info.experiment_id) == (run_id, "0")
    assert (trace.info.start_time_ns, trace.info.end_time_ns) == (1_000, 1_150)
    assert store.get_trace(T2).info.name == "chat gpt-4o"
    assert trace.spans[1].attributes == {"gen_ai.usage.input_tokens": 3}

    # A later batch widens a stored trace; sending the same spans again changes nothing.
    late = _span(T1, "d" * 16, "a" * 16, 3_000)
    export({}, [late, child])
    info = store.get_trace(T1).info
    assert (info.span_count, info.end_time_ns, info.name) == (3, 3_100, "chain")
    export({}, [late, child])
    assert store.get_trace(T1).info.span_count == 3
    assert [t.trace_id for t in store.search_traces(run_id=run_id)] == [T1]


def test_bad_input_writes_nothing(store: SqlAlchemyStore, export: Callable[..., Any]) -> None:
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    bad_batches: list[tuple[dict[str, Any], list[SpanRecord]]] = [
        ({run_id: ([("m", "not a number", 1, 0)], {}, {})}, []),
        ({run_id: ([("m", 1.0, 2**63, 0)], {}, {})}, []),
        ({run_id: ([("m", 1.0, 1, 0)], {"": "v"}, {})}, []),
    ]
    for runs, spans in bad_batches:
        with pytest.raises(InvalidInputError):
            export(runs, spans)
    assert store.get_run(run_id).data.metrics == {} and store.get_run(run_id).data.params == {}


def test_bulk_batch_is_one_transaction(store: SqlAlchemyStore) -> None:
    """The store's version writes nothing when the batch's spans are invalid."""
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    with pytest.raises(InvalidInputError):
        store.log_export_batch(
            {run_id: ([("m", 1.0, 1, 0)], {"p": "1"}, {})}, [_span("x" * 33, "a" * 16, None, 1)]
        )
    assert store.get_run(run_id).data.metrics == {}
    store.log_batch(run_id, metrics=[Metric("m", 2.0, 1)])  # the run is still usable
    assert store.get_run(run_id).data.metrics == {"m": 2.0}


def _call(step: int, ts: int, **values: Any) -> tuple[Any, ...]:
    """A call row: (step, timestamp, values of CALL_METRICS in order, None where not given)."""
    return (step, ts, *(values.get(key.removeprefix("llm.")) for key in CALL_METRICS))


def _history(store: SqlAlchemyStore, run_id: str, key: str) -> list[tuple[float, int, int]]:
    return [(m.value, m.timestamp, m.step) for m in store.get_metric_history(run_id, key)]


def test_llm_calls_read_back_as_metric_history(
    store: SqlAlchemyStore, export: Callable[..., Any]
) -> None:
    """Call rows (one per LLM call) are the same metrics as history rows would be: history
    merged with logged metrics by step, latest values, and a missing value is no value."""
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    store.log_batch(run_id, metrics=[Metric("llm.latency_ms", 5.0, 50, 1)])  # logged by hand
    first = _call(0, 100, input_tokens=3, latency_ms=12.5, calls=1, cumulative_input_tokens=3)
    second = _call(2, 300, latency_ms=math.nan, cost_usd=0.25, calls=2, cumulative_cost_usd=0.25)
    assert export({run_id: ([], {}, {}, [first, second])}) == {}
    assert _history(store, run_id, "llm.latency_ms") == [(12.5, 100, 0), (5.0, 50, 1)]
    assert _history(store, run_id, "llm.input_tokens") == [(3.0, 100, 0)]
    assert _history(store, run_id, "llm.calls") == [(1.0, 100, 0), (2.0, 300, 2)]
    assert _history(store, run_id, "llm.time_to_first_token_ms") == []
    metrics = store.get_run(run_id).data.metrics
    assert metrics == {
        "llm.input_tokens": 3.0,
        "llm.latency_ms": 5.0,  # step 1 (logged) is newer than the call at step 0
        "llm.cost_usd": 0.25,
        "llm.calls": 2.0,
        "llm.cumulative_input_tokens": 3.0,
        "llm.cumulative_cost_usd": 0.25,
    }
    # A later call wins over the logged value; an older one never replaces the latest.
    export({run_id: ([], {}, {}, [_call(3, 400, latency_ms=7.0, calls=3)])})
    export({run_id: ([("llm.calls", 99.0, 1, 0)], {}, {}, [])})
    metrics = store.get_run(run_id).data.metrics
    assert (metrics["llm.latency_ms"], metrics["llm.calls"]) == (7.0, 3.0)
    assert [s for _, _, s in _history(store, run_id, "llm.calls")] == [0, 0, 2, 3]
    # Found by search like any metric.
    found = store.search_runs(["0"], "metrics.`llm.calls` = 3")
    assert [r.info.run_id for r in found] == [run_id]


def test_llm_calls_of_left_out_runs_and_bad_calls(
    store: SqlAlchemyStore, export: Callable[..., Any]
) -> None:
    ok = store.create_run("0", "u", 1, [], "ok").info.run_id
    gone = store.create_run("0", "u", 1, [], "gone").info.run_id
    store.delete_run(gone)
    call = _call(0, 10, input_tokens=4, calls=1)
    assert set(export({ok: ([], {}, {}, [call]), gone: ([], {}, {}, [call])})) == {gone}
    assert _history(store, ok, "llm.input_tokens") == [(4.0, 10, 0)]
    assert _history(store, gone, "llm.input_tokens") == []
    for bad in [
        (0, 10),  # too short
        _call(0, "10"),  # timestamp not an int
        _call(0, 10, input_tokens="four"),
        _call(2**63, 10),
    ]:
        with pytest.raises(InvalidInputError, match="Invalid LLM call"):
            export({ok: ([], {}, {}, [call, bad])})
    assert len(_history(store, ok, "llm.input_tokens")) == 1  # nothing of those batches
    # Odd numbers (Decimal, huge ints) are converted, as for metrics; calls out of order.
    later = _call(3, 30, input_tokens=2**70, latency_ms=decimal.Decimal("1.5"))
    export({ok: ([], {}, {}, [later, _call(2, 40, input_tokens=1, total_tokens=7)])})
    assert _history(store, ok, "llm.input_tokens")[-2:] == [(1.0, 40, 2), (float(2**70), 30, 3)]
    metrics = store.get_run(ok).data.metrics
    assert (metrics["llm.input_tokens"], metrics["llm.latency_ms"]) == (float(2**70), 1.5)
    assert metrics["llm.total_tokens"] == 7.0  # the latest call that has one


def test_span_text_no_store_can_hold_is_stored_alike(
    store: SqlAlchemyStore, export: Callable[..., Any]
) -> None:
    """Issue 10.5: a NUL (which PostgreSQL refuses and SQLite kept) or a lone surrogate (which
    no UTF-8 database takes) in span data is stored as U+FFFD by every store, never refused."""
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    odd = _span(
        T1, "a" * 16, None, 1_000, name="chat\x00x\ud800", status_message="bad\x00", run_id=run_id
    )
    skipped = export({run_id: ([], {"llm.model": "m\x00\udcff"}, {"t": "v\x00"})}, [odd])
    assert skipped == {}
    (span,) = store.get_trace(T1).spans
    assert (span.name, span.status_message) == ("chat\ufffdx\ufffd", "bad\ufffd")
    assert store.get_trace(T1).info.name == "chat\ufffdx\ufffd"
    data = store.get_run(run_id).data
    assert (data.params["llm.model"], data.tags["t"]) == ("m\ufffd\ufffd", "v\ufffd")
