"""Span conversion: real SDK spans into SpanRecord entities (pure functions)."""

from __future__ import annotations

import dataclasses

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from spanrun.core.entities import SpanEvent, SpanRecord
from spanrun.exporters._convert import hex_span_id, hex_trace_id, span_to_record


@pytest.mark.parametrize("value", [0, 1, 0xABC, 2**64 - 1, 2**128 - 1])
def test_hex_ids_are_zero_padded_lowercase(value: int) -> None:
    assert hex_trace_id(value) == format(value, "032x")
    if value < 2**64:
        assert hex_span_id(value) == format(value, "016x")


def test_hex_ids_wider_than_otel_ids_keep_every_digit() -> None:
    assert hex_trace_id(2**130 + 5) == format(2**130 + 5, "032x")
    assert hex_span_id(2**70) == format(2**70, "016x")


def _spans() -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "svc", "tags": ("a", "b")}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER) as root:
        root.set_attribute("k", (1, 2))
        child = tracer.start_span("child", kind=SpanKind.CLIENT, attributes={"x": "y"})
        child.add_event("evt", {"n": (3,)}, timestamp=123)
        child.set_status(Status(StatusCode.ERROR, "boom"))
        child.end()
    return list(memory.get_finished_spans())


def test_span_to_record_equals_the_constructors_record() -> None:
    child, root = _spans()
    record = span_to_record(child, "run1", "7")
    expected = SpanRecord(
        trace_id=format(child.context.trace_id, "032x"),
        span_id=format(child.context.span_id, "016x"),
        parent_span_id=format(root.context.span_id, "016x"),
        name="child",
        kind="CLIENT",
        start_time_ns=child.start_time,
        end_time_ns=child.end_time,
        status_code="ERROR",
        status_message="boom",
        attributes={"x": "y"},
        events=(SpanEvent("evt", 123, {"n": [3]}),),
        resource={"service.name": "svc", "tags": ["a", "b"]},
        run_id="run1",
        experiment_id="7",
    )
    assert record == expected
    assert set(vars(record)) == {f.name for f in dataclasses.fields(SpanRecord)}
    root_record = span_to_record(root)
    assert (root_record.parent_span_id, root_record.kind) == (None, "SERVER")
    assert root_record.events == ()
    assert (root_record.run_id, root_record.experiment_id) == (None, None)
    assert root_record.attributes == {"k": (1, 2)}  # the span's own dict, read only


def test_records_stay_frozen() -> None:
    record = span_to_record(_spans()[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "other"  # type: ignore[misc]
    assert dataclasses.replace(record, name="other").name == "other"
    assert repr(record).startswith("SpanRecord(trace_id=")


def test_ids_and_attributes_given_by_the_caller_are_used() -> None:
    span = _spans()[0]
    record = span_to_record(span, ids=("t" * 32, "s" * 16, None), attributes={"a": 1})
    assert (record.trace_id, record.span_id, record.parent_span_id) == ("t" * 32, "s" * 16, None)
    assert record.attributes == {"a": 1}
