"""Chat models and LLMs: request parameters, usage sources, errors, abandoned streams."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from spanrun.instrumentation.langchain import SpanrunCallbackHandler

from ._spans import attr_json, trees


class ParamChat(FakeMessagesListChatModel):
    """A fake chat model with provider-style params and an OpenAI-style ``llm_output``."""

    model_name: str = "fake-model-1"
    temperature: float = 0.3
    max_tokens: int = 64
    top_p: float = 0.9

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
        }

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any):
        message = AIMessage("done", response_metadata={"finish_reason": "length"}, id="resp-42")
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={
                "token_usage": {
                    "prompt_tokens": 11,
                    "completion_tokens": 4,
                    "prompt_tokens_details": {"cached_tokens": 3},
                },
                "model_name": "fake-model-1-2026",
            },
        )


def test_request_params_and_llm_output_usage(handler, exporter) -> None:
    model = ParamChat(responses=[AIMessage("unused")])
    messages = [SystemMessage("Rules."), HumanMessage("Go", name="ann")]
    model.invoke(messages, config={"callbacks": [handler]}, stop=["END"], seed=7)

    (span,) = exporter.get_finished_spans()
    assert span.name == "chat fake-model-1"
    assert span.kind is SpanKind.CLIENT
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "param",
        "gen_ai.request.model": "fake-model-1",
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.cache_read.input_tokens": 3,
        "gen_ai.response.model": "fake-model-1-2026",
        "gen_ai.response.id": "resp-42",
        "gen_ai.response.finish_reasons": ("length",),
    }
    assert {key: span.attributes.get(key) for key in expected} == expected
    assert attr_json(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "Rules."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Go"}], "name": "ann"},
    ]
    assert attr_json(span, "gen_ai.output.messages")[0]["finish_reason"] == "length"


def test_completion_llm_span(handler, exporter) -> None:
    llm = FakeListLLM(responses=["forty-two"])
    assert llm.invoke("meaning?", config={"callbacks": [handler]}) == "forty-two"

    (span,) = exporter.get_finished_spans()
    assert span.name == "text_completion FakeListLLM"
    assert span.attributes["gen_ai.operation.name"] == "text_completion"
    assert span.attributes["gen_ai.provider.name"] == "fakelist"
    assert attr_json(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "meaning?"}]}
    ]
    assert attr_json(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "forty-two"}]}
    ]


def test_model_error_is_recorded_and_reraised(handler, exporter) -> None:
    class Broken(FakeListChatModel):
        def _call(self, *args: Any, **kwargs: Any) -> str:
            raise ConnectionError("provider down")

    with pytest.raises(ConnectionError, match="provider down"):
        Broken(responses=["x"]).invoke("hi", config={"callbacks": [handler]})

    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "provider down"  # the message; the type is error.type
    assert span.attributes["error.type"] == "ConnectionError"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "provider down"
    assert handler.open_runs == 0


def test_abandoned_stream_ends_span_without_error(handler, exporter) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("one two three four")]))
    stream = model.stream("hi", config={"callbacks": [handler]})
    assert next(stream).content == "one"
    stream.close()

    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.request.stream"] is True
    assert handler.open_runs == 0


async def test_async_stream_of_model(handler, exporter) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("a b")]))
    chunks = [c.content async for c in model.astream("hi", config={"callbacks": [handler]})]

    assert "".join(chunks) == "a b"
    assert trees(exporter.get_finished_spans()) == [("chat GenericFakeChatModel", [])]


class ExplodingProcessor(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("processor bug")


def test_tracing_failures_never_break_the_chain(caplog, monkeypatch) -> None:
    monkeypatch.delenv("SPANRUN_RAISE_INTERNAL_ERRORS", raising=False)  # as users run it
    provider = TracerProvider()
    provider.add_span_processor(ExplodingProcessor())
    handler = SpanrunCallbackHandler(tracer_provider=provider)
    model = GenericFakeChatModel(messages=iter([AIMessage("still fine")]))

    with caplog.at_level(logging.WARNING, logger="spanrun.instrumentation.langchain._handler"):
        result = model.invoke("hi", config={"callbacks": [handler]})

    assert result.content == "still fine"
    assert "your code still runs" in caplog.text
    assert handler.open_runs == 0
