"""Faults injected into our own code never change what the user's call returns or raises.

Each scenario runs once without instrumentation and once instrumented with a fault; the
outcomes (results, chunks, exception type/status/message) must be identical.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanProcessor

import openai
from spanrun.instrumentation.openai import OpenAIInstrumentor
from spanrun.instrumentation.openai import _messages as msg
from spanrun.instrumentation.openai import _operations as ops

from ._helpers import USER, WEATHER_TOOL, fake


def _outcome(fn: Any) -> Any:
    try:
        value = fn()
    except Exception as exc:  # the comparison covers exceptions too
        return ("raised", type(exc), getattr(exc, "status_code", None), str(exc))
    return ("returned", value)


def _dump(items: Any) -> list[Any]:
    return [i.model_dump() for i in items]


def _arun(coro_fn: Any) -> Any:
    return asyncio.run(coro_fn())


def _scenarios(client: openai.OpenAI, base_url: str) -> dict[str, Any]:
    def chat() -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, n=2, tools=[WEATHER_TOOL]
        ).model_dump()

    def chat_stream() -> Any:
        return _dump(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
                tools=[WEATHER_TOOL],
            )
        )

    def chat_stream_partial() -> Any:
        got = []
        try:
            for chunk in client.chat.completions.create(
                model="gpt-4o-mini", messages=USER, stream=True, **fake(break_after=3)
            ):
                got.append(chunk.model_dump())
        except Exception as exc:
            return (got, type(exc))
        return (got, None)

    def chat_raw() -> Any:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
        return raw.parse().model_dump()

    def chat_streaming_response() -> Any:
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=USER, stream=True
        ) as response:
            return _dump(response.parse())

    def chat_error() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=USER, **fake(error=429))

    def completion() -> Any:
        return client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x").model_dump()

    def embeddings() -> Any:
        return client.embeddings.create(model="text-embedding-3-small", input="x").model_dump()

    def async_chat_stream() -> Any:
        async def run() -> Any:
            async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as c:
                stream = await c.chat.completions.create(
                    model="gpt-4o-mini", messages=USER, stream=True
                )
                return [chunk.model_dump() async for chunk in stream]

        return _arun(run)

    scenarios = {
        "chat": chat,
        "chat_stream": chat_stream,
        "chat_stream_partial": chat_stream_partial,
        "chat_raw": chat_raw,
        "chat_streaming_response": chat_streaming_response,
        "chat_error": chat_error,
        "completion": completion,
        "embeddings": embeddings,
        "async_chat_stream": async_chat_stream,
    }
    if hasattr(client, "responses"):

        def responses() -> Any:
            return client.responses.create(model="gpt-4o-mini", input="hi").model_dump()

        def responses_stream() -> Any:
            return _dump(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))

        scenarios["responses"] = responses
        scenarios["responses_stream"] = responses_stream
    return scenarios


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


class _FailingProcessor(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("injected fault in on_start")

    def on_end(self, span: Any) -> None:
        raise RuntimeError("injected fault in on_end")


def _inject(kind: str, monkeypatch: pytest.MonkeyPatch, provider: Any) -> None:
    if kind == "request_attributes":
        for op in (ops.CHAT, ops.TEXT_COMPLETION, ops.EMBEDDINGS, ops.RESPONSES):
            monkeypatch.setattr(op, "request_attributes", _boom)
    elif kind == "response_attributes":
        for op in (ops.CHAT, ops.TEXT_COMPLETION, ops.EMBEDDINGS, ops.RESPONSES):
            monkeypatch.setattr(op, "response_attributes", _boom)
    elif kind == "message_conversion":
        monkeypatch.setattr(msg, "dumps", _boom)
    elif kind == "stream_chunks":
        for state in (ops.ChatStreamState, ops.CompletionStreamState, ops.ResponsesStreamState):
            monkeypatch.setattr(state, "add", _boom)
    elif kind == "stream_summary":
        for state in (ops.ChatStreamState, ops.CompletionStreamState, ops.ResponsesStreamState):
            monkeypatch.setattr(state, "attributes", _boom)
    elif kind == "stream_state_creation":
        for op in (ops.CHAT, ops.TEXT_COMPLETION, ops.RESPONSES):
            monkeypatch.setattr(op, "stream_state", _boom)
    elif kind == "span_processing":
        provider.add_span_processor(_FailingProcessor())
    else:  # pragma: no cover
        raise AssertionError(kind)


FAULTS = [
    "request_attributes",
    "response_attributes",
    "message_conversion",
    "stream_chunks",
    "stream_summary",
    "stream_state_creation",
    "span_processing",
]


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_never_change_results(
    fault, client, openai_server, provider, exporter, monkeypatch, caplog
):
    monkeypatch.delenv("SPANRUN_RAISE_INTERNAL_ERRORS", raising=False)
    base_url = openai_server.base_url
    expected = {name: _outcome(fn) for name, fn in _scenarios(client, base_url).items()}
    assert expected["chat_error"][0] == "raised"
    assert expected["chat_stream_partial"][1] is not None

    # A new client: the SDK caches `with_raw_response` accessors bound to the methods of the
    # moment, so a client that used them before instrument() keeps the unpatched ones.
    fresh = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
    scenarios = _scenarios(fresh, base_url)
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    _inject(fault, monkeypatch, provider)
    try:
        with caplog.at_level(logging.WARNING, logger="spanrun.instrumentation"):
            actual = {name: _outcome(fn) for name, fn in scenarios.items()}
    finally:
        inst.uninstrument()
        fresh.close()
    for name in scenarios:
        assert actual[name] == expected[name], name
    assert "internal error" in caplog.text
    if fault != "span_processing":
        # Spans still end (one per call), only with less detail.
        names = [s.name for s in exporter.get_finished_spans()]
        assert len(names) == len(scenarios), names


def test_internal_errors_can_be_raised_for_debugging(client, provider, monkeypatch):
    monkeypatch.setenv("SPANRUN_RAISE_INTERNAL_ERRORS", "1")
    monkeypatch.setattr(ops.CHAT, "response_attributes", _boom)
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    try:
        with pytest.raises(RuntimeError, match="injected fault"):
            client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    finally:
        inst.uninstrument()
