"""The bounded batch processor: never blocks the caller, drops oldest when full, counts drops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanrun.core import internal_errors
from spanrun.exporters import BoundedBatchSpanProcessor


class GatedExporter(InMemorySpanExporter):
    """OTel's in-memory exporter that waits for a gate: a store that is slow right now."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.gate.wait(30)
        return super().export(spans)


def make(exporter, **kwargs):
    provider = TracerProvider()
    processor = BoundedBatchSpanProcessor(exporter, **kwargs)
    provider.add_span_processor(processor)
    return provider, processor, provider.get_tracer("t")


def test_full_queue_drops_the_oldest_and_counts(caplog):
    exporter = GatedExporter()
    provider, processor, tracer = make(exporter, max_queue_size=10, max_export_batch_size=5)
    tracer.start_span("first").end()
    processor._wake.set()
    assert exporter.entered.wait(10)  # the worker is stuck in export with "first"
    try:
        with caplog.at_level(logging.WARNING, logger="spanrun"):
            for i in range(50):
                tracer.start_span(f"s{i}").end()  # returns at once though the store is stuck
            assert processor.dropped_spans == 40
            exporter.gate.set()
            assert processor.force_flush(10_000)
    finally:
        exporter.gate.set()
    # The first drop is reported at once, the rest (rate-limited) at the latest on flush.
    assert "dropped 1 oldest spans (1 in total)" in caplog.text
    assert "dropped 39 oldest spans (40 in total)" in caplog.text
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["first", *[f"s{i}" for i in range(40, 50)]]
    provider.shutdown()


def test_force_flush_is_honest_about_timeouts():
    exporter = GatedExporter()
    provider, processor, tracer = make(exporter)
    tracer.start_span("a").end()
    try:
        assert processor.force_flush(timeout_millis=50) is False  # the store is stuck
    finally:
        exporter.gate.set()
    assert processor.force_flush(timeout_millis=10_000) is True
    assert [s.name for s in exporter.get_finished_spans()] == ["a"]
    provider.shutdown()


def test_flush_exports_everything_queued_before_it():
    exporter = InMemorySpanExporter()
    provider, processor, tracer = make(exporter, max_export_batch_size=7)
    for i in range(100):
        tracer.start_span(f"s{i}").end()
    assert processor.force_flush()
    assert [s.name for s in exporter.get_finished_spans()] == [f"s{i}" for i in range(100)]
    provider.shutdown()


def test_shutdown_flushes_and_is_idempotent():
    exporter = InMemorySpanExporter()
    _provider, processor, tracer = make(exporter, schedule_delay_millis=60_000)
    tracer.start_span("last").end()
    processor.shutdown()
    processor.shutdown()
    assert [s.name for s in exporter.get_finished_spans()] == ["last"]
    tracer.start_span("after").end()  # ignored, no error
    assert processor.force_flush() is True


class BrokenExporter(InMemorySpanExporter):
    """An exporter with a bug: every export raises."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("bug in an exporter")


def test_an_exporter_bug_is_logged_once_for_users(caplog, monkeypatch):
    monkeypatch.delenv(internal_errors.RAISE_ENV, raising=False)  # as users run
    internal_errors.reset()
    _, processor, tracer = make(BrokenExporter())
    with caplog.at_level(logging.DEBUG, logger="spanrun"):
        for _ in range(3):
            tracer.start_span("s").end()
            assert processor.force_flush(5_000)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "internal error while exporting a batch of spans" in warnings[0].getMessage()
    assert internal_errors.error_counts()["exporting a batch of spans"] == 3
    processor.shutdown()


def test_an_exporter_bug_reaches_the_caller_of_force_flush_under_the_test_suite():
    internal_errors.reset()
    _, processor, tracer = make(BrokenExporter())
    tracer.start_span("s").end()
    with pytest.raises(RuntimeError, match="bug in an exporter"):
        processor.force_flush(5_000)
    assert processor.force_flush(5_000)  # raised once; the worker thread lives on
    processor.shutdown()
