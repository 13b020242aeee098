"""Property: whatever a span carries, the exporter raises nothing and the healthy spans of the
same batch are stored (issue 10: one odd span must cost only itself)."""

from __future__ import annotations

import itertools
import json
import sqlite3
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from spanrun.exporters import RunExporter
from spanrun.tracking import _uri

from ._genai_spans import semconv_attrs

# Every attribute the mapping reads, so hostile values land where they can hurt.
_KEYS = [
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.usage.total_tokens",
    "gen_ai.request.temperature",
    "gen_ai.request.top_p",
    "gen_ai.request.max_tokens",
    "gen_ai.request.seed",
    "gen_ai.request.stop_sequences",
    "gen_ai.request.choice.count",
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "error.type",
    "input.value",
    "output.value",
    "llm.request.type",
    "llm.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.model_name",
    "openinference.span.kind",
    "llm.input_messages.0.message.content",
    "spanrun.run_id",
    "spanrun.experiment_id",
]

# Every code point, lone surrogates and NUL included.
_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.sampled_from(
    ["\ud800", "a\x00b", "x" * 100_000, "[", "{}", "null", "1e999", "=cmd()"]
)
_number = (
    st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([float("inf"), float("-inf"), float("nan"), 2**63, -(2**63) - 1, -1])
)
_scalar = _text | _number | st.booleans()
_value = _scalar | st.lists(_text, max_size=3) | st.lists(_number, max_size=3)
_messages = st.lists(
    st.fixed_dictionaries({"role": _text | st.just("user"), "parts": st.just([])})
    | st.fixed_dictionaries(
        {"role": st.just("user"), "parts": st.lists(st.fixed_dictionaries({"content": _text}))}
    ),
    max_size=3,
).map(lambda m: json.dumps(m, ensure_ascii=True))
_attributes = st.dictionaries(
    st.sampled_from(_KEYS) | _text.filter(bool),
    _value | _messages,
    max_size=12,
)
_events = st.lists(
    st.tuples(_text, st.dictionaries(st.sampled_from(_KEYS) | _text.filter(bool), _value)),
    max_size=2,
)

_ids = itertools.count(1)


def _spans(
    name: str, attrs: dict[str, Any], events: list[tuple[str, dict[str, Any]]], status: str
) -> tuple[list[ReadableSpan], list[ReadableSpan]]:
    """Four healthy LLM calls around one hostile span (its own trace), all finished."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("hostile")
    n = next(_ids)
    for i in range(2):
        tracer.start_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=semconv_attrs(f"a{n}.{i}")
        ).end()
    span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
    for event_name, event_attrs in events:
        span.add_event(event_name, event_attrs)
    span.set_status(Status(StatusCode.ERROR, status))
    span.end()
    for i in range(2):
        tracer.start_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=semconv_attrs(f"b{n}.{i}")
        ).end()
    done = list(memory.get_finished_spans())
    return done, [s for s in done if s.name == "chat gpt-4o-mini" and s is not done[2]]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=_text, attrs=_attributes, events=_events, status=_text)
def test_a_hostile_span_costs_only_itself(tmp_path, name, attrs, events, status):
    db = tmp_path / f"hostile{next(_ids)}.db"
    store = _uri.get_export_store_for_uri(f"sqlite:///{db}")
    exporter = RunExporter(store, retry_delay_s=0.001)
    batch, healthy = _spans(name, attrs, events, status)
    exporter.export(batch)  # never raises: that is part of the property
    assert exporter.force_flush(30_000)
    conn = sqlite3.connect(db)
    try:
        stored = {r[0] for r in conn.execute("SELECT span_id FROM spans")}
        want = {format(s.context.span_id, "016x") for s in healthy}
        assert want <= stored
        (calls,) = conn.execute("SELECT count(*) FROM llm_calls").fetchone()
        assert calls >= len(healthy)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    assert exporter.dropped_spans <= 1


def test_a_span_the_store_refuses_is_dropped_alone(tmp_path):
    """A span the store refuses as bad input (here: a negative start time) is found by bisection and
    dropped with a reason; the other 99 spans and their calls are written."""
    store = _uri.get_export_store_for_uri(f"sqlite:///{tmp_path / 'refused.db'}")
    exporter = RunExporter(store, retry_delay_s=0.001)
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("refused")
    for i in range(100):
        tracer.start_span("chat gpt-4o-mini", attributes=semconv_attrs(f"q{i}")).end()
    spans = list(memory.get_finished_spans())
    good = spans[37]
    spans[37] = ReadableSpan(  # the same span, with a start time no clock gives
        name=good.name,
        context=good.context,
        attributes=good.attributes,
        start_time=-1,
        end_time=good.end_time,
    )
    exporter.export(spans)
    assert exporter.force_flush(30_000)
    assert exporter.dropped_spans == 1
    assert exporter.refused_spans == 1  # for what it holds: a retry would not help
    conn = sqlite3.connect(tmp_path / "refused.db")
    try:
        assert conn.execute("SELECT count(*) FROM spans").fetchone() == (99,)
        assert conn.execute("SELECT count(*) FROM llm_calls").fetchone() == (100,)
    finally:
        conn.close()
