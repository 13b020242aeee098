"""OTLP/gRPC ingest: the official gRPC OTLP exporter into the receiver's TraceService."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.e2e._helpers import chat, predictions, steps
from tests.server.otlp._bodies import as_protobuf, llm_span_json, request_json
from tests.server.otlp._fixtures import free_port
from tests.server.otlp._senders import instrumented_sender


def test_the_official_grpc_exporter_delivers_spans_into_runs(client, store, receiver_factory):
    port = free_port()
    receiver_factory(grpc_port=port)
    exporter = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{port}",
        insecure=True,
        compression=grpc.Compression.Gzip,
        headers=(("x-spanrun-experiment", "over-grpc"),),
    )
    with instrumented_sender(exporter, service_name="grpc-app"):
        chat(client, "over grpc one", temperature=0.3)
        chat(client, "over grpc two", temperature=0.3)
    experiment = store.get_experiment_by_name("over-grpc")
    assert experiment is not None
    (run,) = store.search_runs([experiment.experiment_id])
    assert run.info.run_name == "grpc-app"
    assert run.data.params["llm.temperature"] == "0.3"
    assert steps(store, run.info.run_id, "llm.calls") == [(0, 1), (1, 2)]
    assert predictions(store, run.info.run_id)["inputs"].tolist() == [
        "over grpc one",
        "over grpc two",
    ]
    assert len(store.search_traces(run_id=run.info.run_id)) == 2


def test_grpc_answers_partial_success_and_checks_the_token(store, receiver_factory):
    port = free_port()
    receiver_factory(grpc_port=port, auth_token="s3cret")
    body = request_json(
        llm_span_json("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"),
        llm_span_json("5b8efff798038103d269b633813fc60c", "0000000000000000"),
    )
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(as_protobuf(body))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Export(request, timeout=30, metadata=(("authorization", "Bearer wrong"),))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answer = stub.Export(request, timeout=30, metadata=(("authorization", "Bearer s3cret"),))
    assert answer.partial_success.rejected_spans == 1
    (run,) = store.search_runs(["0"])
    assert steps(store, run.info.run_id, "llm.calls") == [(0, 1)]
    # Without the token the official exporter is refused too (and does not retry that).
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("t").start_span("plain").end()
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=5)
    assert exporter.export(memory.get_finished_spans()) == SpanExportResult.FAILURE
    assert store.search_traces(["0"], max_results=10)[0].name != "plain"
