"""Spans also reach a real OTLP receiver, over HTTP/protobuf and over gRPC."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import spanrun

from ._helpers import chat, predictions
from ._otlp_receivers import OtlpGrpcReceiver, OtlpHttpReceiver


@pytest.fixture
def http_receiver() -> Iterator[OtlpHttpReceiver]:
    receiver = OtlpHttpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def grpc_receiver() -> Iterator[OtlpGrpcReceiver]:
    receiver = OtlpGrpcReceiver()
    yield receiver
    receiver.close()


def _check_llm_span(receiver, run_id: str) -> None:
    (span,) = [s for s in receiver.spans if s.name == "chat gpt-4o-mini"]
    assert span.kind == 3  # SPAN_KIND_CLIENT
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert span.attributes["gen_ai.request.temperature"] == 0.5
    assert span.attributes["gen_ai.usage.input_tokens"] > 0
    assert span.attributes["spanrun.run_id"] == run_id
    assert "otlp please" in span.attributes["gen_ai.input.messages"]


def test_http_protobuf_by_default(autolog, client, store, http_receiver):
    autolog.autolog(otlp_endpoint=http_receiver.endpoint)
    with spanrun.start_run() as run:
        chat(client, "otlp please", temperature=0.5)
    assert autolog.flush()
    _check_llm_span(http_receiver, run.info.run_id)
    (span,) = http_receiver.spans
    assert span.resource["service.name"]  # the program's name when OTEL_SERVICE_NAME is unset
    # ... and the same call is in the store.
    assert predictions(store, run.info.run_id)["span_id"].tolist() == [span.span_id]


def test_grpc_when_asked(autolog, client, store, grpc_receiver):
    autolog.autolog(otlp_endpoint=grpc_receiver.endpoint, otlp_protocol="grpc")
    with spanrun.start_run() as run:
        chat(client, "otlp please", temperature=0.5)
    assert autolog.flush()
    _check_llm_span(grpc_receiver, run.info.run_id)


def test_standard_environment_variables(autolog, client, grpc_receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", grpc_receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=nlp")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-llm-app")
    autolog.autolog()
    with spanrun.start_run() as run:
        chat(client, "otlp please", temperature=0.5)
    assert autolog.flush()
    _check_llm_span(grpc_receiver, run.info.run_id)
    assert grpc_receiver.spans[0].resource["service.name"] == "my-llm-app"
    assert grpc_receiver.headers[0]["x-team"] == "nlp"


def test_http_env_endpoint_and_headers(autolog, client, http_receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken")
    autolog.autolog()
    with spanrun.start_run() as run:
        chat(client, "otlp please", temperature=0.5)
    assert autolog.flush()
    _check_llm_span(http_receiver, run.info.run_id)
    assert http_receiver.headers[0]["authorization"] == "Bearer t0ken"


def test_collector_down_changes_nothing_for_the_user(autolog, client, store, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # read by the official exporter
    # Nothing listens on this port: the OTLP exporter fails in the background only.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    autolog.autolog(otlp_endpoint=f"http://127.0.0.1:{port}")
    with spanrun.start_run() as run:
        assert chat(client, "still fine") == "Echo: still fine"
    assert predictions(store, run.info.run_id)["inputs"].tolist() == ["still fine"]


def test_bad_protocol_is_a_clear_error(autolog):
    with pytest.raises(spanrun.errors.InvalidInputError, match="protocol"):
        autolog.autolog(otlp_endpoint="http://127.0.0.1:1", otlp_protocol="carrier-pigeon")


def test_env_endpoint_leaves_a_users_own_provider_alone(
    autolog, client, http_receiver, monkeypatch
):
    # A provider the user configured is assumed to export already: no second OTLP exporter.
    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.endpoint)
    provider = TracerProvider()
    autolog.autolog(tracer_provider=provider)
    with spanrun.start_run():
        chat(client, "mine")
    assert autolog.flush()
    assert autolog.otlp is None
    assert http_receiver.spans == []
    # ... unless asked explicitly.
    autolog.autolog(tracer_provider=provider, otlp_endpoint=http_receiver.endpoint)
    with spanrun.start_run():
        chat(client, "sent")
    assert autolog.flush()
    assert [s.name for s in http_receiver.spans] == ["chat gpt-4o-mini"]
    provider.shutdown()
