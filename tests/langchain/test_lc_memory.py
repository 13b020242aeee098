"""Bounded memory: per-run state is released on end and error, and capped."""

from __future__ import annotations

import gc
import logging
import weakref
from typing import Any
from uuid import uuid4

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor

from spanrun.instrumentation.langchain import SpanrunCallbackHandler
from spanrun.instrumentation.langchain._context import ScopedSpan


class SpanRefs(SpanProcessor):
    """Keeps only weak references to the spans started, to see whether they are freed."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Any]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.refs.append(weakref.ref(span))


def placeholder_chain_length() -> int:
    """Placeholders reachable from the current context through the contexts they replaced."""
    count, span = 0, trace.get_current_span()
    while isinstance(span, ScopedSpan):
        count += 1
        token = span._token
        if token is None or token.old_value is token.MISSING:
            break
        span = trace.get_current_span(token.old_value)
    return count


def test_state_released_after_success_and_error(handler) -> None:
    def fail(_: Any) -> None:
        raise KeyError("x")

    ok = RunnableLambda(lambda x: x) | RunnableLambda(str)
    for i in range(50):
        ok.invoke(i, config={"callbacks": [handler]})
        with pytest.raises(KeyError):
            (ok | RunnableLambda(fail)).invoke(i, config={"callbacks": [handler]})

    assert handler.open_runs == 0


async def test_ended_spans_are_freed_even_when_context_keeps_a_placeholder(
    provider, exporter
) -> None:
    refs = SpanRefs()
    provider.add_span_processor(refs)
    handler = SpanrunCallbackHandler(tracer_provider=provider)
    model = GenericFakeChatModel(messages=iter([AIMessage("hi")] * 30))

    for _ in range(30):  # top-level ainvoke: end callbacks run in a copied context
        await model.ainvoke("x", config={"callbacks": [handler]})

    current = trace.get_current_span()
    assert not current.get_span_context().is_valid  # the placeholder resolves to "no span"
    exporter.clear()
    gc.collect()
    assert len(refs.refs) == 30
    assert all(ref() is None for ref in refs.refs)
    # What this task's context still holds is one inert placeholder, not a chain of them.
    assert placeholder_chain_length() <= 1


def test_open_runs_are_capped_with_a_warning(provider, exporter, caplog) -> None:
    handler = SpanrunCallbackHandler(tracer_provider=provider, max_open_runs=3)
    run_ids = [uuid4() for _ in range(5)]

    with caplog.at_level(logging.WARNING, logger="spanrun.instrumentation.langchain._handler"):
        for run_id in run_ids:
            handler.on_chain_start({"name": "never ends"}, {"i": 1}, run_id=run_id)

    assert handler.open_runs == 3
    evicted = exporter.get_finished_spans()
    assert len(evicted) == 2
    assert all(s.attributes["spanrun.langchain.evicted"] is True for s in evicted)
    assert "LangChain runs were still open" in caplog.text

    for run_id in run_ids:  # ending evicted runs is harmless
        handler.on_chain_end({"ok": True}, run_id=run_id)
    assert handler.open_runs == 0
    assert len(exporter.get_finished_spans()) == 5
    # The context is clean again: a new root has no parent.
    assert not trace.get_current_span().get_span_context().is_valid
