"""``RunExporter`` maps a batch while the previous one is written by its writer thread: one batch
in flight at most, batches written in order, and ``force_flush`` waits for the last write."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanrun.errors import StoreError
from spanrun.exporters import RunExporter
from spanrun.store.base import Store
from tests._store_writes import patch_export_write
from tests.e2e._helpers import predictions

from ._genai_spans import chain, llm_call


def _finished_spans(make: Any) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    make(provider.get_tracer("tests"))
    return list(memory.get_finished_spans())


def _llm_calls(n: int) -> Any:
    def make(tracer: Any) -> None:
        for k in range(n):
            llm_call(tracer, user=f"q{k}")

    return make


def test_force_flush_waits_for_the_batch_being_written(store: Store, monkeypatch) -> None:
    exporter = RunExporter(store, run_mode="session", retry_delay_s=0)
    release = threading.Event()
    writing = threading.Event()
    write = store.log_export_batch

    def slow_write(runs: Any, spans: Sequence[Any] = ()) -> Any:
        writing.set()
        assert release.wait(30)
        return write(runs, spans)

    patch_export_write(monkeypatch, store, slow_write)
    # export() returns once the batch is mapped; the write is still blocked.
    assert exporter.export(_finished_spans(_llm_calls(3))) is SpanExportResult.SUCCESS
    assert writing.wait(30)
    assert exporter.force_flush(timeout_millis=50) is False  # honest: not written yet
    assert "llm.calls" not in store.get_run(exporter.session_run_id).data.metrics
    release.set()
    assert exporter.force_flush() is True
    assert store.get_run(exporter.session_run_id).data.metrics["llm.calls"] == 3
    exporter.shutdown()


def test_batches_are_written_in_order_one_at_a_time(store: Store, monkeypatch) -> None:
    exporter = RunExporter(store, run_mode="session", retry_delay_s=0)
    write = store.log_export_batch
    lock = threading.Lock()
    in_flight = 0
    most_in_flight = 0
    written: list[list[str]] = []

    def counting_write(runs: Any, spans: Sequence[Any] = ()) -> Any:
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        try:
            written.append([s.span_id for s in spans])
            return write(runs, spans)
        finally:
            with lock:
                in_flight -= 1

    patch_export_write(monkeypatch, store, counting_write)
    batches = [_finished_spans(_llm_calls(n)) for n in (1, 2, 3, 4, 5)]
    for batch in batches:
        assert exporter.export(batch) is SpanExportResult.SUCCESS
    assert exporter.force_flush()
    # In export order; batches that waited for the writer share its next transaction.
    exported = [format(s.context.span_id, "016x") for batch in batches for s in batch]
    assert [span_id for spans in written for span_id in spans] == exported
    assert most_in_flight == 1
    run_id = exporter.session_run_id
    # Steps follow the export order: the metric history is 0..14 with no gap or repeat.
    steps = [m.step for m in store.get_metric_history(run_id, "llm.calls")]
    assert sorted(steps) == list(range(15))
    assert store.get_run(run_id).data.metrics["llm.calls"] == 15
    assert exporter.dropped_spans == exporter.dropped_calls == 0


def test_trace_runs_end_after_their_spans_are_written(store: Store) -> None:
    exporter = RunExporter(store, run_mode="trace", retry_delay_s=0)

    def make(tracer: Any) -> None:
        with chain(tracer, "answer"):
            llm_call(tracer)

    assert exporter.export(_finished_spans(make)) is SpanExportResult.SUCCESS
    assert exporter.force_flush()
    (run,) = store.search_runs(["0"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["llm.calls"] == 1
    assert len(store.get_trace(run.data.tags["spanrun.trace_id"]).spans) == 2


def test_a_write_that_fails_for_good_is_counted_not_raised(store: Store, monkeypatch) -> None:
    exporter = RunExporter(store, run_mode="session", max_attempts=2, retry_delay_s=0)

    def broken(runs: Any, spans: Sequence[Any] = ()) -> Any:
        raise OSError("disk gone")

    patch_export_write(monkeypatch, store, broken)
    assert exporter.export(_finished_spans(_llm_calls(4))) is SpanExportResult.SUCCESS
    assert exporter.force_flush()
    assert exporter.dropped_spans == 4
    assert exporter.dropped_calls == 4
    monkeypatch.undo()
    # The next batch is written: the writer thread gave up on that batch only.
    assert exporter.export(_finished_spans(_llm_calls(1))) is SpanExportResult.SUCCESS
    assert exporter.force_flush()
    history = store.get_metric_history(exporter.session_run_id, "llm.calls")
    # The first 4 were dropped: the run holds one call (its index and running totals are read
    # from the store again after a lost write, so a sender's retry is not counted twice).
    assert [(m.step, m.value) for m in history] == [(0, 1)]


def test_a_batch_that_cannot_be_prepared_is_written_in_one_step(store: Store, monkeypatch) -> None:
    # prepare_export_batch runs on the mapping thread; when it fails there, the writer thread
    # takes the one-step path (log_export_batch), which writes or reports as it always did.
    def cannot_prepare(runs: Any, spans: Sequence[Any] = ()) -> Any:
        raise RuntimeError("prepare failed")

    monkeypatch.setattr(store, "prepare_export_batch", cannot_prepare)
    exporter = RunExporter(store, run_mode="session", retry_delay_s=0)
    assert exporter.export(_finished_spans(_llm_calls(2))) is SpanExportResult.SUCCESS
    assert exporter.force_flush() is True
    assert store.get_run(exporter.session_run_id).data.metrics["llm.calls"] == 2
    assert exporter.dropped_spans == 0
    exporter.shutdown()


def _prediction_rows(store: Store, run_id: str) -> int:
    from spanrun.artifacts import get_artifact_repository

    repo = get_artifact_repository(store.get_run(run_id).info.artifact_uri)
    if not repo.exists("llm_predictions.csv"):
        return 0
    return len(repo.read_bytes("llm_predictions.csv").decode().splitlines()) - 1  # the header


def _wait_for_rows(store: Store, run_id: str, count: int) -> int:
    """The run's prediction rows once there are ``count`` (or after 30 s)."""
    deadline = time.monotonic() + 30
    while _prediction_rows(store, run_id) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return _prediction_rows(store, run_id)


def test_rows_follow_their_transaction_without_a_flush(store: Store) -> None:
    """Prediction rows are appended once their batch's transaction committed: by the next
    export (on its thread), else by the idle writer thread; never before the metrics."""
    exporter = RunExporter(store, run_mode="session", retry_delay_s=0)
    exporter.export(_finished_spans(_llm_calls(2)))
    run_id = exporter.session_run_id
    assert run_id is not None
    assert _wait_for_rows(store, run_id, 2) == 2  # no force_flush: nothing else is coming
    assert store.get_run(run_id).data.metrics["llm.calls"] == 2
    exporter.export(_finished_spans(_llm_calls(3)))
    exporter.export(_finished_spans(_llm_calls(1)))  # may wait for the writer: still written
    assert _wait_for_rows(store, run_id, 6) == 6
    assert store.get_run(run_id).data.metrics["llm.calls"] == 6
    assert exporter.force_flush()
    assert _prediction_rows(store, run_id) == 6
    exporter.shutdown()


def test_batches_waiting_for_a_busy_writer_share_a_transaction(store: Store, monkeypatch) -> None:
    exporter = RunExporter(store, run_mode="session", retry_delay_s=0)
    release = threading.Event()
    sizes: list[int] = []
    write = store.log_export_batch

    writing = threading.Event()

    def slow_write(runs: Any, spans: Sequence[Any] = ()) -> Any:
        sizes.append(len(spans))
        if len(sizes) == 1:
            writing.set()
            assert release.wait(30)
        return write(runs, spans)

    patch_export_write(monkeypatch, store, slow_write)
    exporter.export(_finished_spans(_llm_calls(1)))  # written first, held up
    assert writing.wait(30)
    started = time.monotonic()
    for n in (2, 3, 4):  # mapped meanwhile; export() does not wait for the writer
        assert exporter.export(_finished_spans(_llm_calls(n))) is SpanExportResult.SUCCESS
    assert time.monotonic() - started < 10
    assert sizes == [1]
    release.set()
    run_id = exporter.session_run_id
    assert run_id is not None
    # No flush: the idle writer takes the waiting batches itself.
    assert _wait_for_rows(store, run_id, 10) == 10
    assert sizes == [1, 9]  # one transaction for the three waiting batches
    assert exporter.force_flush()
    history = store.get_metric_history(run_id, "llm.calls")
    assert [m.step for m in history] == list(range(10))
    exporter.shutdown()


def test_on_written_tells_each_batch_once_it_is_committed(store: Store, monkeypatch) -> None:
    exporter = RunExporter(store, run_mode="session", max_attempts=2, retry_delay_s=0)
    told: list[tuple[str, bool, int]] = []
    session: list[str] = []  # the session run (shutdown ends it: the exporter then forgets it)

    def on_written(name: str) -> Any:
        def tell(ok: bool) -> None:  # after the transaction, once its rows are appended
            session[:] = [exporter.session_run_id or session[0]]
            rows = len(predictions(store, session[0]))
            told.append((name, ok, rows))

        return tell

    release = threading.Event()
    write = store.log_export_batch

    def slow_write(runs: Any, spans: Sequence[Any] = ()) -> Any:
        assert release.wait(30)
        return write(runs, spans)

    patch_export_write(monkeypatch, store, slow_write)
    exporter.export(_finished_spans(_llm_calls(2)), on_written=on_written("first"))
    exporter.export(_finished_spans(_llm_calls(1)), on_written=on_written("second"))
    exporter.export(_finished_spans(_llm_calls(1)), on_written=on_written("third"))
    assert told == []  # nothing committed yet
    release.set()
    assert exporter.force_flush()
    # In order, each once its rows are there (the later two shared one transaction).
    assert [(name, ok) for name, ok, _ in told] == [
        ("first", True),
        ("second", True),
        ("third", True),
    ]
    assert told[0][2] >= 2 and told[1][2] == told[2][2] == 4

    def broken(runs: Any, spans: Sequence[Any] = ()) -> Any:
        raise OSError("disk gone")

    patch_export_write(monkeypatch, store, broken)
    exporter.export(_finished_spans(_llm_calls(1)), on_written=on_written("lost"))
    assert exporter.force_flush()
    assert told[-1] == ("lost", False, 4)
    exporter.shutdown()
    exporter.export(_finished_spans(_llm_calls(1)), on_written=on_written("late"))
    assert told[-1] == ("late", False, 4)  # not taken: told at once


def test_a_batch_mapped_while_the_store_failed_is_told_false(store: Store, monkeypatch) -> None:
    # Its LLM calls were dropped while mapping (the run could not be read): even when the
    # spans are written with a later batch, a receiver must not acknowledge those calls.
    exporter = RunExporter(store, run_mode="session", max_attempts=1, retry_delay_s=0)
    told: list[bool] = []

    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("database is locked")

    monkeypatch.setattr(store, "create_run", down)
    exporter.export(_finished_spans(_llm_calls(1)), on_written=told.append)
    monkeypatch.undo()
    exporter.export(_finished_spans(_llm_calls(1)), on_written=told.append)
    assert exporter.force_flush()
    assert told == [False, True]
