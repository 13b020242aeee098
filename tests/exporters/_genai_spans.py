"""Emit GenAI spans the way instrumentations do (real SDK spans, attribute shapes per vendor)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer


def semconv_attrs(
    user: str = "hi",
    answer: str = "hello",
    model: str = "gpt-4o-mini",
    input_tokens: int = 10,
    output_tokens: int = 5,
    **request: Any,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model + "-2024-07-18",
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": user}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": answer}],
                    "finish_reason": "stop",
                }
            ]
        ),
    }
    for key, value in request.items():
        attrs[f"gen_ai.request.{key}"] = value
    return attrs


def llm_call(tracer: Tracer, *, error: bool = False, **kwargs: Any) -> None:
    """One finished LLM span (a CLIENT span named like spanrun's instrumentor names it)."""
    attrs = semconv_attrs(**kwargs)
    with tracer.start_as_current_span(
        f"chat {attrs['gen_ai.request.model']}",
        kind=SpanKind.CLIENT,
        attributes=attrs,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        if error:
            span.set_attribute("error.type", "RateLimitError")
            span.set_status(Status(StatusCode.ERROR, "slow down"))


@contextmanager
def chain(tracer: Tracer, name: str = "chain", failed: bool = False) -> Iterator[Any]:
    with tracer.start_as_current_span(name, attributes={"input.value": '{"q": 1}'}) as span:
        yield span
        if failed:
            span.set_status(Status(StatusCode.ERROR, "chain failed"))
