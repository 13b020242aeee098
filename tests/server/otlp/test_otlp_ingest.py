"""The ingest queue in-process on a real SQLite store: conversion to SDK spans, the answer
when the store fails (retry, counted once), and copies of a span sent while it is in flight."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind, StatusCode

from spanrun.errors import StoreError
from spanrun.server.otlp._counted import CountedCalls, Ticket
from spanrun.server.otlp._ingest import Ingest, StoreUnavailable
from spanrun.server.otlp._spans import to_readable_spans
from tests._store_writes import patch_export_write
from tests.e2e._helpers import steps
from tests.server.otlp._bodies import as_protobuf, llm_span_json, request_json

T1 = "5b8efff798038103d269b633813fc60c"


def _request(*spans: dict[str, Any], service: str = "svc") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(as_protobuf(request_json(*spans, service=service)))


def test_otlp_spans_become_the_sdk_spans_the_sender_held() -> None:
    body = request_json(llm_span_json(T1, "eee19b7ec3c1b174", parent_span_id="eee19b7ec3c1b170"))
    span_json = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span_json["status"] = {"code": 2, "message": "rate limited"}
    span_json["events"] = [{"name": "exception", "timeUnixNano": "5", "attributes": []}]
    span_json["flags"] = 0x301  # sampled, parent known to be remote
    span_json["attributes"] += [
        {"key": "ok", "value": {"boolValue": True}},
        {
            "key": "kv",
            "value": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": 1}}]}},
        },
        {"key": "raw", "value": {"bytesValue": "AAE="}},
        {"key": "empty", "value": {}},
    ]
    converted = to_readable_spans(ExportTraceServiceRequest.FromString(as_protobuf(body)))
    (span,) = converted.spans
    assert converted.rejected == 0
    assert span.context.trace_id == int(T1, 16)
    assert span.context.trace_flags.sampled
    assert span.parent is not None and span.parent.is_remote
    assert span.parent.span_id == int("eee19b7ec3c1b170", 16)
    assert span.kind is SpanKind.CLIENT
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "rate limited")
    assert span.attributes["gen_ai.usage.input_tokens"] == 12
    assert span.attributes["gen_ai.request.temperature"] == 0.2
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["ok"] is True
    assert span.attributes["kv"] == '{"a":1}'
    assert span.attributes["raw"] == "AAE="
    assert "empty" not in span.attributes
    assert [(e.name, e.timestamp) for e in span.events] == [("exception", 5)]
    assert span.resource.attributes["service.name"] == "json-app"
    assert span.instrumentation_scope is not None
    assert (span.instrumentation_scope.name, span.instrumentation_scope.version) == (
        "hand-built",
        "1",
    )
    assert converted.origins[0].service_name == "json-app"


def test_protobuf_bodies_convert_as_the_official_message_does() -> None:
    """``decode_request`` parses protobuf as ``WireRequest`` (attributes as bytes, decoded once
    per distinct encoding): the spans equal those of the official message, also the second
    time (from the decoded-attribute cache)."""
    from spanrun.server.otlp._decode import decode_request
    from spanrun.server.otlp._wire import WireRequest

    body = request_json(
        llm_span_json(T1, "eee19b7ec3c1b174"),
        llm_span_json(T1, "eee19b7ec3c1b175", parent_span_id="eee19b7ec3c1b174"),
    )
    spans_json = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans_json[0]["attributes"] += [
        {
            "key": "list",
            "value": {"arrayValue": {"values": [{"intValue": 1}, {"doubleValue": 2.5}]}},
        },
        {"key": "x" * 300, "value": {"stringValue": "long: never cached"}},
    ]
    spans_json[1]["links"] = [
        {
            "traceId": T1,
            "spanId": "eee19b7ec3c1b170",
            "attributes": [{"key": "k", "value": {"stringValue": "v"}}],
        }
    ]
    spans_json[1]["status"] = {"code": 1}
    raw = as_protobuf(body)
    wire = decode_request(raw, "protobuf")
    assert isinstance(wire, WireRequest)

    def seen(converted: Any) -> list[tuple[Any, ...]]:
        return [
            (
                s.name, s.context, s.parent, s.kind, s.start_time, s.end_time,
                s.status.status_code, dict(s.attributes or {}),
                [(e.name, e.timestamp, dict(e.attributes or {})) for e in s.events],
                [(link.context, dict(link.attributes or {})) for link in s.links],
                dict(s.resource.attributes),
            )
            for s in converted.spans
        ]  # fmt: skip

    official = seen(to_readable_spans(ExportTraceServiceRequest.FromString(raw)))
    assert seen(to_readable_spans(wire)) == official
    assert seen(to_readable_spans(decode_request(raw, "protobuf"))) == official
    first = official[0][7]
    assert first["list"] == (1, 2.5) and first["x" * 300] == "long: never cached"
    assert official[1][6] is StatusCode.OK and official[1][9][0][1] == {"k": "v"}


def test_the_decoded_attribute_cache_is_bounded() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from spanrun.server.otlp import _wire

    encoded = [
        KeyValue(key=f"k{i}", value=AnyValue(int_value=i)).SerializeToString()
        for i in range(_wire._MAX_CACHED + 10)
    ]
    assert _wire.attribute_pairs(encoded) == {f"k{i}": i for i in range(len(encoded))}
    assert 0 < len(_wire._decoded) <= _wire._MAX_CACHED


@pytest.fixture
def ingest(store):
    made = Ingest(store, clock_skew_s=0.0)
    yield made
    made.close()


def test_a_store_that_fails_makes_the_request_retry_and_the_retry_counts_once(
    store, ingest, monkeypatch
):
    request = _request(llm_span_json(T1, "eee19b7ec3c1b174"))
    assert ingest.submit(request).result(30).rejected == 0

    def broken(runs: Any, spans: Any = ()) -> Any:
        raise StoreError("disk I/O error")

    ingest.exporter.max_attempts = 1
    patch_export_write(monkeypatch, store, broken)
    second = _request(llm_span_json(T1, "eee19b7ec3c1b175"))
    with pytest.raises(StoreUnavailable):
        ingest.submit(second).result(30)
    monkeypatch.undo()
    assert ingest.submit(second).result(30).rejected == 0  # the sender's retry
    assert ingest.submit(second).result(30).rejected == 0  # and a needless one
    (run,) = store.search_runs(["0"])
    assert steps(store, run.info.run_id, "llm.calls") == [(0, 1), (1, 2)]
    assert ingest.queued_spans == 0


def test_a_copy_sent_while_the_first_is_in_flight_follows_its_fate(store, ingest, monkeypatch):
    release = threading.Event()
    write = store.log_export_batch
    calls = {"n": 0}

    def first_write_fails(runs: Any, spans: Any = ()) -> Any:
        calls["n"] += 1
        assert release.wait(30)
        if calls["n"] == 1:
            raise StoreError("disk I/O error")
        return write(runs, spans)

    ingest.exporter.max_attempts = 1
    patch_export_write(monkeypatch, store, first_write_fails)
    request = _request(llm_span_json(T1, "eee19b7ec3c1b174"))
    first = ingest.submit(request)
    copy = ingest.submit(request)  # a retry of a sender that timed out
    release.set()
    with pytest.raises(StoreUnavailable):
        first.result(30)
    with pytest.raises(StoreUnavailable):  # its span was in the failed write: retried
        copy.result(30)
    assert ingest.submit(request).result(30).rejected == 0
    (run,) = store.search_runs(["0"])
    assert steps(store, run.info.run_id, "llm.calls") == [(0, 1)]


def test_counted_calls_remember_committed_spans_and_ask_the_store_for_older_ones(store) -> None:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext

    def span(span_id: int, end: int, llm: bool = True) -> ReadableSpan:
        attributes = {"gen_ai.operation.name": "chat"} if llm else {"step": 1}
        context = SpanContext(int(T1, 16), span_id, False)
        return ReadableSpan("s", context, attributes=attributes, start_time=end, end_time=end)

    counted = CountedCalls(store, clock_skew_s=0, started_ns=1_000)
    first = Ticket()
    keep, waits = counted.fresh([span(1, 2_000), span(1, 2_000), span(2, 2_000, llm=False)], first)
    assert [s.context.span_id for s in keep] == [1, 2] and waits == {first}
    again = Ticket()
    keep, waits = counted.fresh([span(1, 2_000)], again)
    assert keep == [] and waits == {first}  # in flight under the first ticket
    counted.settle(first, True)
    assert counted.fresh([span(1, 2_000)], Ticket()) == ([], set())
    # Ended before this receiver started: the store says whether a previous one took it.
    old = span(3, 500)
    store.log_spans([_record(old)])
    assert counted.fresh([old], Ticket()) == ([], set())
    unseen = span(4, 500)
    keep, _ = counted.fresh([unseen], Ticket())
    assert keep == [unseen]


def _record(span: Any) -> Any:
    from spanrun.core.entities import SpanRecord

    return SpanRecord(
        trace_id=T1,
        span_id=format(span.context.span_id, "016x"),
        parent_span_id=None,
        name="s",
        kind="CLIENT",
        start_time_ns=500,
        end_time_ns=500,
        status_code="UNSET",
        status_message="",
        attributes={},
        events=(),
        resource={},
        run_id=None,
        experiment_id="0",
    )


async def test_the_receiver_from_the_environment_serves_grpc_with_the_token(store, monkeypatch):
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    from spanrun.errors import InvalidInputError
    from spanrun.server.otlp import receiver_from_environment

    monkeypatch.setenv("SPANRUN_SERVER_OTLP_RUN_MODE", "sometimes")
    with pytest.raises(InvalidInputError, match="SPANRUN_SERVER_OTLP_RUN_MODE"):
        receiver_from_environment(store)
    monkeypatch.setenv("SPANRUN_SERVER_OTLP_RUN_MODE", "trace")
    monkeypatch.setenv("SPANRUN_SERVER_OTLP_GRPC_PORT", "0")
    monkeypatch.setenv("SPANRUN_SERVER_TOKEN", "t0ken")
    monkeypatch.setenv("SPANRUN_SERVER_MAX_BODY_BYTES", "1000000")
    receiver = receiver_from_environment(store)
    assert receiver.max_body_bytes == 1_000_000
    await receiver.startup()
    try:
        assert receiver.grpc is not None
        request = _request(llm_span_json(T1, "eee19b7ec3c1b174"))
        with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc.port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            stub.Export(request, timeout=30, metadata=(("authorization", "Bearer t0ken"),))
    finally:
        await receiver.shutdown()
    (run,) = store.search_runs(["0"])
    assert run.data.tags["spanrun.run_mode"] == "trace"
    assert run.info.status == "FINISHED"
