"""``encode_request`` writes the bytes of the message the official OTLP encoder builds."""

from __future__ import annotations

import time

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceState

from spanrun.exporters._otlp_encode import encode_request


class _Collect(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _spans() -> list[ReadableSpan]:
    collect = _Collect()
    spans: list[ReadableSpan] = []
    for service in ("chat-app", "worker"):
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "n": 3}, schema_url="s://r")
        )
        provider.add_span_processor(SimpleSpanProcessor(collect))
        plain = provider.get_tracer("plain")
        versioned = provider.get_tracer("lib", "1.2", schema_url="s://x", attributes={"a": 1})
        remote = SpanContext(0xABC, 0xDEF, True, trace_state=TraceState([("k", "v")]))
        with plain.start_as_current_span(
            "chat gpt-4o-mini",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "text": "héllo \U0001f600 " + "x" * 300,
                "empty": "",
                "flag": True,
                "no": False,
                "tokens": 42,
                "big": 2**62,
                "negative": -7,
                "zero": 0,
                "temperature": 0.25,
                "nan": float("nan"),
                "reasons": ("stop", "length"),
                "ints": [1, -2, 3],
                "floats": [0.5],
                "bools": [True, False],
                "nothing": (),
            },
            links=[Link(remote, {"why": "retry"})],
        ) as parent:
            parent.add_event("first token", {"at": 12}, timestamp=time.time_ns())
            parent.add_event("bare")
            with versioned.start_as_current_span("inner", kind=SpanKind.INTERNAL) as child:
                child.set_status(Status(StatusCode.ERROR, "boom"))
            with versioned.start_as_current_span("ok", kind=SpanKind.SERVER) as child:
                child.set_status(Status(StatusCode.OK))
        plain.start_span("consumer", kind=SpanKind.CONSUMER).end()
        plain.start_span("producer", kind=SpanKind.PRODUCER).end()
    spans += collect.spans
    return spans


def _official(spans: list[ReadableSpan]) -> ExportTraceServiceRequest:
    return encode_spans(spans)


def test_the_bytes_parse_to_the_official_encoders_message() -> None:
    spans = _spans()
    ours = ExportTraceServiceRequest.FromString(encode_request(spans))
    official = _official(spans)
    # The one difference: a link's trace state, which the official encoder leaves out.
    links = [
        link
        for resource_spans in ours.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
        for link in span.links
    ]
    assert [link.trace_state for link in links] == ["k=v", "k=v"]
    for link in links:
        link.ClearField("trace_state")
    official_scopes = [s for r in official.resource_spans for s in r.scope_spans]
    if not any(s.scope.attributes or s.schema_url for s in official_scopes):
        # Encoders before OpenTelemetry 1.28 leave out a scope's attributes and schema URL.
        for scope_spans in (s for r in ours.resource_spans for s in r.scope_spans):
            scope_spans.scope.ClearField("attributes")
            scope_spans.ClearField("schema_url")
    assert ours.SerializeToString(deterministic=True) == official.SerializeToString(
        deterministic=True
    )


def test_extra_resource_attributes_are_added_where_missing() -> None:
    spans = _spans()
    extra = {"spanrun.process": "host:1", "service.name": "ignored"}
    ours = ExportTraceServiceRequest.FromString(encode_request(spans, extra))
    for resource_spans in ours.resource_spans:
        attributes = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
        assert attributes["spanrun.process"] == "host:1"
        assert attributes["service.name"] in ("chat-app", "worker")
    assert len(ours.resource_spans) == 2


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 127, 128, 300])
def test_int64_edges(value: int) -> None:
    provider = TracerProvider()
    collect = _Collect()
    provider.add_span_processor(SimpleSpanProcessor(collect))
    provider.get_tracer("t").start_span("s", attributes={"v": value}).end()
    ours = ExportTraceServiceRequest.FromString(encode_request(collect.spans))
    span = ours.resource_spans[0].scope_spans[0].spans[0]
    assert span.attributes[0].value.int_value == value
