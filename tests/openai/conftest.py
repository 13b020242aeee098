"""Fixtures: the local OpenAI-compatible server, real openai clients, an in-memory exporter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import openai
from spanrun.core import internal_errors
from spanrun.instrumentation.openai import OpenAIInstrumentor
from spanrun.testing.fixtures import openai_server  # noqa: F401 - re-exported fixture
from spanrun.testing.openai_server import OpenAIServer


@pytest.fixture(autouse=True)
def _fresh_internal_error_sites() -> None:
    # The policy logs each site at WARNING once per process: tests asserting that warning
    # must not depend on which test hit the site first.
    internal_errors.reset()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


@pytest.fixture
def instrumented(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OpenAIInstrumentor]:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    yield inst
    inst.uninstrument()


@pytest.fixture
def client(openai_server: OpenAIServer) -> Iterator[openai.OpenAI]:  # noqa: F811
    c = openai.OpenAI(base_url=openai_server.base_url, api_key="sk-test-secret", max_retries=0)
    yield c
    c.close()


@pytest.fixture
async def aclient(openai_server: OpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:  # noqa: F811
    c = openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="sk-test-secret", max_retries=0)
    yield c
    await c.close()
