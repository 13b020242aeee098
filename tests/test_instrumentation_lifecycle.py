"""The GenAI span lifecycle shared by the OpenAI and LangChain instrumentors."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from spanrun.core import internal_errors
from spanrun.instrumentation._lifecycle import (
    LLM_SPAN_KIND,
    Invocation,
    Telemetry,
    is_suppressed,
    llm_attributes,
    llm_span_name,
)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    internal_errors.reset()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(exporter: InMemorySpanExporter) -> Telemetry:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Telemetry.create("test", provider, log_content=True)


def _llm(telemetry: Telemetry) -> Invocation:
    attrs = llm_attributes("chat", "openai", "gpt-4o-mini")
    inv = telemetry.start(llm_span_name("chat", "gpt-4o-mini"), LLM_SPAN_KIND, attrs)
    assert inv is not None
    return inv


def test_llm_span_start_and_finish(telemetry, exporter) -> None:
    inv = _llm(telemetry)
    inv.finish({"gen_ai.usage.input_tokens": 3})
    inv.finish({"gen_ai.usage.input_tokens": 4})  # a second ending is harmless
    inv.fail(RuntimeError("late"))
    inv.end()

    (span,) = exporter.get_finished_spans()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 3,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_unknown_provider_and_model() -> None:
    assert llm_attributes("chat", None, None) == {"gen_ai.operation.name": "chat"}
    assert llm_span_name("chat", None) == "chat"
    assert llm_span_name("chat", "") == "chat "  # an empty model is kept as given


def test_error_type_in_response_marks_the_span_failed(telemetry, exporter) -> None:
    _llm(telemetry).finish({"error.type": "response_failed"})
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "response_failed"


@pytest.mark.parametrize(
    ("kwargs", "description", "escaped"),
    [({}, "boom", "False"), ({"description": "ValueError: boom", "escaped": True}, None, "True")],
)
def test_fail(telemetry, exporter, kwargs, description, escaped) -> None:
    inv = _llm(telemetry)
    inv.fail(ValueError("boom"), {"gen_ai.response.id": "r1"}, **kwargs)
    inv.finish({"gen_ai.usage.input_tokens": 3})

    (span,) = exporter.get_finished_spans()
    assert span.attributes["error.type"] == "ValueError"
    assert span.attributes["gen_ai.response.id"] == "r1"
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == (description or "ValueError: boom")
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.escaped"] == escaped


def test_fail_without_message_describes_the_type(telemetry, exporter) -> None:
    _llm(telemetry).fail(KeyError())
    (span,) = exporter.get_finished_spans()
    assert span.status.description == "KeyError"


def test_time_to_first_chunk(telemetry) -> None:
    inv = _llm(telemetry)
    assert inv.time_to_first_chunk() is None
    assert inv.chunk_seen() is True
    assert inv.chunk_seen() is False
    first = inv.time_to_first_chunk()
    assert first is not None and first >= 0
    inv.end()


def test_make_current_and_detach(telemetry) -> None:
    inv = _llm(telemetry)
    assert inv.make_current()
    assert trace.get_current_span() is inv.span
    inv.detach()
    inv.detach()  # harmless
    assert trace.get_current_span() is not inv.span
    inv.end()


def test_suppression_key() -> None:
    assert not is_suppressed()
    token = otel_context.attach(
        otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    )
    try:
        assert is_suppressed()
    finally:
        otel_context.detach(token)


def test_content_capture_setting(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    assert Telemetry.create("t").capture is False
    assert Telemetry.create("t", log_content=True).capture is True
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    assert Telemetry.create("t").capture is True


class _Exploding(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("processor bug")


def test_a_failed_start_is_reported(monkeypatch, caplog) -> None:
    provider = TracerProvider()
    provider.add_span_processor(_Exploding())
    telemetry = Telemetry.create("test", provider)
    with pytest.raises(RuntimeError, match="processor bug"):  # the test suite re-raises
        telemetry.start("chat", LLM_SPAN_KIND, {})
    monkeypatch.delenv(internal_errors.RAISE_ENV)
    with caplog.at_level(logging.WARNING, logger="spanrun.instrumentation"):
        assert telemetry.start("chat", LLM_SPAN_KIND, {}) is None
    assert "your code still runs" in caplog.text
    assert internal_errors.error_counts() == {"starting a span": 2}
