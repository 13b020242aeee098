"""Fixtures for the LangChain tests: a real SDK provider with an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanrun.core import internal_errors
from spanrun.instrumentation.langchain import SpanrunCallbackHandler
from spanrun.testing.fixtures import openai_server  # noqa: F401


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
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def handler(provider: TracerProvider) -> SpanrunCallbackHandler:
    return SpanrunCallbackHandler(tracer_provider=provider)
