"""Merging waiting batches and planning one prepared write per store (``_batch_plan``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from spanrun.core.entities import SpanRecord
from spanrun.errors import InvalidInputError, StoreError
from spanrun.exporters._batch_plan import PendingWrite, plan_writes, refusal, storable_spans
from spanrun.exporters._drops import Drops
from spanrun.exporters._run_ledger import RunLedger, RunWrites


class FakeStore:
    """Refuses spans named "bad" and runs named in ``bad_runs`` as bad input."""

    def __init__(self, bad_runs: Sequence[str] = (), broken: bool = False) -> None:
        self.bad_runs = set(bad_runs)
        self.broken = broken
        self.prepared = 0
        self.written: list[tuple[dict[str, Any], list[str]]] = []

    def prepare_export_batch(
        self, runs: Mapping[str, Any], spans: Sequence[SpanRecord] = ()
    ) -> Callable[[], dict[str, str]]:
        self.prepared += 1
        if self.broken:
            raise StoreError("cannot prepare")
        if any(s.name == "bad" for s in spans) or self.bad_runs & set(runs):
            raise InvalidInputError("refused")
        return lambda: self.log_export_batch(runs, spans)

    def log_export_batch(
        self, runs: Mapping[str, Any], spans: Sequence[SpanRecord] = ()
    ) -> dict[str, str]:
        self.written.append((dict(runs), [s.name for s in spans]))
        return {}


def _span(name: str) -> SpanRecord:
    return SpanRecord("t" * 32, "s" * 16, None, name, "INTERNAL", 0, 0, "UNSET", "", {})


def _writes(*run_ids: str, store: Any = None) -> dict[str, tuple[RunLedger, RunWrites]]:
    out = {}
    for run_id in run_ids:
        w = RunWrites(metrics=[("m", 1.0, 0, 0)], rows=[["row"]], calls=1)
        out[run_id] = (RunLedger(run_id, "0", "uri", store=store), w)
    return out


def test_a_later_batch_is_merged_into_the_waiting_one() -> None:
    store: Any = FakeStore()
    first = PendingWrite(store, _writes("a"), [_span("1")], [], False)
    later = PendingWrite(store, _writes("a", "b"), [_span("2")], [("b", None)], True)  # type: ignore[list-item]
    first.absorb(later)
    assert sorted(first.writes) == ["a", "b"]
    a = first.writes["a"][1]
    assert (len(a.metrics), len(a.rows), a.calls) == (2, 2, 2)
    assert [s.name for s in first.records] == ["1", "2"]
    assert first.ended_trace_runs == [("b", None)]
    assert first.store_down  # the latest batch's


def test_one_prepared_write_per_store_with_the_spans_on_the_batchs_store() -> None:
    here, there = FakeStore(), FakeStore()
    writes = {
        **_writes("a"),
        **_writes("b", store=there),
        "c": (RunLedger("c", "0", "u"), RunWrites()),
    }
    plan = plan_writes(here, writes, [_span("1")], Drops())  # type: ignore[arg-type]
    assert [(sorted(w.runs), w.span_count) for w in plan] == [(["a"], 1), (["b"], 0)]
    for write in plan:
        write.job()
    assert here.written == [({"a": ([("m", 1.0, 0, 0)], {}, {}, [])}, ["1"])]
    assert [sorted(r) for r, _ in there.written] == [["b"]]


def test_refused_spans_and_runs_are_left_out_alone(caplog) -> None:
    store = FakeStore(bad_runs=["b"])
    drops = Drops()
    spans = [_span(name) for name in ["1", "bad", "2", "3", "bad", "4", "5"]]
    (write,) = plan_writes(store, _writes("a", "b"), spans, drops)  # type: ignore[arg-type]
    skipped = write.job()
    assert store.written == [({"a": ([("m", 1.0, 0, 0)], {}, {}, [])}, ["1", "2", "3", "4", "5"])]
    assert skipped == {"b": "refused"}  # counted as skipped by the writer: its rows too
    assert drops.spans == 2
    assert drops.refused == 2  # for what they hold: sending them again would not help
    assert "dropped span 'bad': refused" in caplog.text


def test_a_store_that_cannot_prepare_gets_the_one_step_write() -> None:
    store = FakeStore(broken=True)
    (write,) = plan_writes(store, _writes("a"), [_span("1")], Drops())  # type: ignore[arg-type]
    assert write.job() == {}
    assert store.written == [({"a": ([("m", 1.0, 0, 0)], {}, {}, [])}, ["1"])]


def test_bisection_keeps_every_good_span_and_refusal_tells_only_bad_input() -> None:
    store: Any = FakeStore()
    spans = [_span("bad" if i % 5 == 0 else str(i)) for i in range(32)]
    kept = storable_spans(store, spans, Drops())
    assert [s.name for s in kept] == [s.name for s in spans if s.name != "bad"]
    assert refusal(store, {}, [_span("bad")]) == "refused"
    assert refusal(store, {}, [_span("ok")]) is None
    assert refusal(FakeStore(broken=True), {}, [_span("bad")]) is None  # type: ignore[arg-type]
