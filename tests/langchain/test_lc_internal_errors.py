"""The LangChain handler follows spanrun's internal-error policy."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from spanrun.instrumentation.langchain import SpanrunCallbackHandler


class ExplodingProcessor(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("processor bug")


def _invoke(handler: SpanrunCallbackHandler) -> Any:
    model = GenericFakeChatModel(messages=iter([AIMessage("fine")]))
    return model.invoke("hi", config={"callbacks": [handler]})


def _exploding_handler() -> SpanrunCallbackHandler:
    provider = TracerProvider()
    provider.add_span_processor(ExplodingProcessor())
    return SpanrunCallbackHandler(tracer_provider=provider)


def test_internal_errors_surface_when_asked(monkeypatch) -> None:
    monkeypatch.setenv("SPANRUN_RAISE_INTERNAL_ERRORS", "1")
    handler = _exploding_handler()
    assert handler.raise_error
    with pytest.raises(RuntimeError, match="processor bug"):
        _invoke(handler)


def test_internal_errors_are_swallowed_by_default(monkeypatch) -> None:
    monkeypatch.delenv("SPANRUN_RAISE_INTERNAL_ERRORS", raising=False)
    handler = _exploding_handler()
    assert not handler.raise_error
    assert _invoke(handler).content == "fine"
    handler.raise_error = True  # an explicit setting wins over the variable
    assert handler.raise_error
