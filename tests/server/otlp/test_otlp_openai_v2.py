"""Spans of the official OpenTelemetry openai-v2 instrumentation, sent by the official OTLP
exporter, become runs with per-call metrics and prediction rows (no spanrun in the sender)."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.e2e._helpers import chat, predictions, steps

openai_v2 = pytest.importorskip(
    "opentelemetry.instrumentation.openai_v2", reason="opentelemetry-instrumentation-openai-v2"
)


def test_openai_v2_spans_become_a_run(client, store, receiver, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-v2-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.traces_url)))
    instrumentor = openai_v2.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        chat(client, "official one", temperature=0.7)
        chat(client, "official two", temperature=0.7)
        assert provider.force_flush(30_000)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    (run,) = [r for r in store.search_runs(["0"]) if r.info.run_name == "otel-v2-app"]
    run_id = run.info.run_id
    assert steps(store, run_id, "llm.calls") == [(0, 1), (1, 2)]
    assert all(value > 0 for _, value in steps(store, run_id, "llm.input_tokens"))
    assert all(value > 0 for _, value in steps(store, run_id, "llm.output_tokens"))
    assert run.data.params["llm.model"] == "gpt-4o-mini"
    assert run.data.params["llm.temperature"] == "0.7"
    rows = predictions(store, run_id)
    assert rows["model"].tolist() == ["gpt-4o-mini", "gpt-4o-mini"]
    assert rows["inputs"].tolist() == ["official one", "official two"]
    assert rows["outputs"].tolist() == ["Echo: official one", "Echo: official two"]
    (trace,) = store.search_traces(run_id=run_id)[:1]
    (span,) = store.get_trace(trace.trace_id).spans
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes["gen_ai.operation.name"] == "chat"
