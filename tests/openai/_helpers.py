"""Small assertions shared by the OpenAI tests."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

USER = [{"role": "user", "content": "Say this is a test"}]
FAKE = "x-spanrun-fake"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}, "utc": {"type": "boolean"}},
        },
    },
}


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def messages(span: ReadableSpan, key: str) -> Any:
    return json.loads(attrs(span)[key])


def fake(**directives: Any) -> dict[str, dict[str, str]]:
    """``extra_headers`` that switch the local server's behaviour."""
    parts = [k if v is True else f"{k}={v}" for k, v in directives.items()]
    return {"extra_headers": {FAKE: "; ".join(parts)}}
