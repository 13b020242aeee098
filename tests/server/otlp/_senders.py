"""Senders for the OTLP receiver tests: spanrun's OpenAI instrumentation on an SDK provider
whose spans go out through the official OTLP exporters (nothing of spanrun's exporter)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from spanrun.exporters import RunStampingProcessor
from spanrun.instrumentation.openai import OpenAIInstrumentor


@contextmanager
def instrumented_sender(
    exporter: SpanExporter, service_name: str = "chat-app", **resource: Any
) -> Iterator[TracerProvider]:
    """A provider stamping the active run (as autolog does) and exporting with ``exporter``;
    openai instrumented for the block, every span sent when it ends."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name, **resource}))
    provider.add_span_processor(RunStampingProcessor())
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, log_content=True)
    try:
        yield provider
        assert provider.force_flush(30_000)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
