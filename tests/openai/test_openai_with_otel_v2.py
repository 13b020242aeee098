"""spanrun's OpenAI instrumentor together with OTel's openai-v2 in one process: one span per
call, whichever was instrumented first, and each one's uninstrument leaves the other working.

(The run side, ``llm.calls`` with autolog, is in tests/e2e/test_one_span_per_call.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import wrapt
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import openai
from spanrun.instrumentation.openai import OpenAIInstrumentor
from tests.openai._helpers import USER, attrs, fake, only_span

otel_v2 = pytest.importorskip("opentelemetry.instrumentation.openai_v2")

_SPANRUN_SCOPE = "spanrun.instrumentation.openai"
_COMPLETIONS = openai.resources.chat.completions.Completions


def _forget_semconv_choice() -> None:
    # OTel reads OTEL_SEMCONV_STABILITY_OPT_IN once per process, at the first instrument();
    # forgetting it keeps these tests from fixing it for later tests (tests/server/otlp sets
    # the variable for openai-v2's other path).
    from opentelemetry.instrumentation import _semconv

    _semconv._OpenTelemetrySemanticConventionStability._initialized = False


@pytest.fixture
def otel(provider: TracerProvider) -> Iterator[object]:
    _forget_semconv_choice()
    inst = otel_v2.OpenAIInstrumentor()
    yield inst
    if inst.is_instrumented_by_opentelemetry:
        inst.uninstrument()
    _forget_semconv_choice()


@pytest.fixture
def ours(provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIInstrumentor]:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    inst = OpenAIInstrumentor()
    yield inst
    inst.uninstrument()


def _both(order: str, ours: OpenAIInstrumentor, otel: object, provider: TracerProvider) -> None:
    steps = [
        lambda: ours.instrument(tracer_provider=provider),
        lambda: otel.instrument(tracer_provider=provider),  # type: ignore[attr-defined]
    ]
    for step in steps if order == "spanrun-first" else reversed(steps):
        step()


def _chat(client: openai.OpenAI, **extra: object) -> object:
    return client.chat.completions.create(model="gpt-4o-mini", messages=USER, **extra)


@pytest.mark.parametrize("order", ["spanrun-first", "otel-first"])
def test_one_span_carrying_both_recordings(
    order: str,
    ours: OpenAIInstrumentor,
    otel: object,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    client: openai.OpenAI,
) -> None:
    _both(order, ours, otel, provider)
    # Whatever the order, the other instrumentation's wrapper is the outer one.
    assert isinstance(_COMPLETIONS.__dict__["create"], wrapt.FunctionWrapper)
    _chat(client)
    span = only_span(exporter)
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name != _SPANRUN_SCOPE  # theirs, recorded into
    assert "gen_ai.input.messages" in attrs(span)  # ours
    assert attrs(span)["gen_ai.usage.output_tokens"] > 0


@pytest.mark.parametrize("order", ["spanrun-first", "otel-first"])
def test_a_failed_call_is_one_error_span_with_one_exception_event(
    order: str,
    ours: OpenAIInstrumentor,
    otel: object,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    client: openai.OpenAI,
) -> None:
    _both(order, ours, otel, provider)
    with pytest.raises(openai.APIStatusError):
        _chat(client, **fake(error=500))
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"]
    assert [e.name for e in span.events].count("exception") == 1


@pytest.mark.parametrize("order", ["spanrun-first", "otel-first"])
def test_a_stream_closed_early_is_one_ended_span(
    order: str,
    ours: OpenAIInstrumentor,
    otel: object,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    client: openai.OpenAI,
) -> None:
    _both(order, ours, otel, provider)
    stream = _chat(client, stream=True)
    next(iter(stream))  # type: ignore[call-overload]
    stream.close()  # type: ignore[attr-defined]
    span = only_span(exporter)
    assert attrs(span)["gen_ai.response.time_to_first_chunk"] >= 0


@pytest.mark.parametrize("order", ["spanrun-first", "otel-first"])
def test_uninstrumenting_spanrun_leaves_the_other_one_alone(
    order: str,
    ours: OpenAIInstrumentor,
    otel: object,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    client: openai.OpenAI,
) -> None:
    _both(order, ours, otel, provider)
    _chat(client)
    only_span(exporter)
    exporter.clear()
    ours.uninstrument()
    _chat(client)
    span = only_span(exporter)
    assert "gen_ai.input.messages" not in attrs(span)  # theirs only, no leftover of ours
    otel.uninstrument()  # type: ignore[attr-defined]
    assert not isinstance(_COMPLETIONS.__dict__["create"], wrapt.FunctionWrapper)


@pytest.mark.parametrize("order", ["spanrun-first", "otel-first"])
def test_uninstrumenting_the_other_one_leaves_spanrun_alone(
    order: str,
    ours: OpenAIInstrumentor,
    otel: object,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    client: openai.OpenAI,
) -> None:
    _both(order, ours, otel, provider)
    _chat(client)
    only_span(exporter)
    exporter.clear()
    otel.uninstrument()  # type: ignore[attr-defined]
    _chat(client)
    span = only_span(exporter)
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == _SPANRUN_SCOPE
    ours.uninstrument()
    assert not isinstance(_COMPLETIONS.__dict__["create"], wrapt.FunctionWrapper)


@pytest.mark.parametrize(
    "outer",
    [
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic"},
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai"},
    ],
)
def test_a_genai_span_of_another_call_is_a_parent_not_the_calls_span(
    outer: dict[str, str],
    instrumented: OpenAIInstrumentor,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    client: openai.OpenAI,
) -> None:
    """Only a span of the same operation and provider is taken as the call's own (a guard:
    an agent's span, or another provider's, still gets the call's span as a child)."""
    tracer = provider.get_tracer("user")
    with tracer.start_as_current_span("chat gpt-4o-mini", attributes=outer):
        _chat(client)
    inner, parent = exporter.get_finished_spans()
    assert inner.instrumentation_scope is not None
    assert inner.instrumentation_scope.name == _SPANRUN_SCOPE
    assert inner.parent is not None and inner.parent.span_id == parent.context.span_id
