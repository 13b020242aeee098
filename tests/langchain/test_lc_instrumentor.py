"""LangChainInstrumentor: injection into every callback manager, idempotence, concurrency."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import wrapt
from langchain_core.callbacks.base import BaseCallbackManager
from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from spanrun.instrumentation.langchain import LangChainInstrumentor, SpanrunCallbackHandler

from ._spans import attr_json, trees

TREE = (
    "chain RunnableSequence",
    [
        ("chain tidy", []),
        ("prompt ChatPromptTemplate", []),
        ("chat ParrotFakeChatModel", []),
        ("parser StrOutputParser", []),
    ],
)


@pytest.fixture
def instrumentor(provider) -> Iterator[LangChainInstrumentor]:
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield instrumentor
    instrumentor.uninstrument()


def chain() -> Any:
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])

    async def atidy(q: str) -> dict[str, str]:
        await asyncio.sleep(0)  # let other invocations interleave
        return {"q": q.strip()}

    tidy = RunnableLambda(lambda q: {"q": q.strip()}, afunc=atidy, name="tidy")
    return tidy | prompt | ParrotFakeChatModel() | StrOutputParser()


def test_every_invocation_is_traced_without_callbacks(instrumentor, exporter) -> None:
    assert chain().invoke(" hello ") == "hello"

    spans = exporter.get_finished_spans()
    assert trees(spans) == [TREE]
    assert instrumentor.handler is not None
    assert instrumentor.handler.open_runs == 0


def test_instrument_twice_and_user_handler_give_one_span_per_run(
    instrumentor, provider, exporter
) -> None:
    instrumentor.instrument(tracer_provider=provider)
    LangChainInstrumentor().instrument(tracer_provider=provider)
    own = SpanrunCallbackHandler(tracer_provider=provider)
    chain().invoke("a", config={"callbacks": [own]})

    assert trees(exporter.get_finished_spans()) == [TREE]


def test_uninstrument_stops_tracing(provider, exporter) -> None:
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    assert isinstance(BaseCallbackManager.__dict__["__init__"], wrapt.FunctionWrapper)
    instrumentor.uninstrument()
    instrumentor.uninstrument()  # harmless

    assert not isinstance(BaseCallbackManager.__dict__["__init__"], wrapt.FunctionWrapper)
    assert not instrumentor.is_instrumented
    assert chain().invoke("a") == "a"
    assert exporter.get_finished_spans() == ()


def test_second_instrument_updates_settings(instrumentor, provider, exporter) -> None:
    instrumentor.instrument(tracer_provider=provider, log_content=False)
    chain().invoke("secret")

    spans = exporter.get_finished_spans()
    assert trees(spans) == [TREE]
    assert all("secret" not in json.dumps(dict(s.attributes)) for s in spans)


async def test_many_concurrent_ainvoke_keep_their_own_trees(instrumentor, exporter) -> None:
    questions = [f"question {i}" for i in range(40)]
    answers = await asyncio.gather(*(chain().ainvoke(f" {q} ") for q in questions))

    assert answers == questions
    spans = exporter.get_finished_spans()
    assert trees(spans) == [TREE] * 40  # trees() also checks each tree is one trace
    for root in (s for s in spans if s.name == "chain RunnableSequence"):
        in_trace = [s for s in spans if s.context.trace_id == root.context.trace_id]
        (chat,) = [s for s in in_trace if s.name == "chat ParrotFakeChatModel"]
        asked = attr_json(chat, "gen_ai.input.messages")[0]["parts"][0]["content"]
        assert root.attributes["output.value"] == asked
        assert root.attributes["input.value"] == f" {asked} "
    assert instrumentor.handler is not None
    assert instrumentor.handler.open_runs == 0


async def test_concurrent_abatch_astream_and_astream_events(instrumentor, exporter) -> None:
    async def streamed(q: str) -> str:
        return "".join([c async for c in chain().astream(q)])

    async def events(q: str) -> str:
        async for event in chain().astream_events(q, version="v2"):
            if event["event"] == "on_chain_end" and not event["parent_ids"]:
                return event["data"]["output"]
        raise AssertionError("no root end event")

    batch, *rest = await asyncio.gather(
        chain().abatch([f"b{i}" for i in range(5)]),
        *(streamed(f"s{i}") for i in range(5)),
        *(events(f"e{i}") for i in range(5)),
    )

    assert batch == [f"b{i}" for i in range(5)]
    assert rest == [f"s{i}" for i in range(5)] + [f"e{i}" for i in range(5)]
    spans = exporter.get_finished_spans()
    assert trees(spans) == [TREE] * 15
    outputs = sorted(s.attributes["output.value"] for s in spans if s.name == TREE[0])
    assert outputs == sorted([f"b{i}" for i in range(5)] + rest)


def test_instrument_before_langchain_is_imported(tmp_path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from spanrun.instrumentation.langchain import LangChainInstrumentor

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        LangChainInstrumentor().instrument(tracer_provider=provider)
        assert "langchain_core" not in sys.modules

        from langchain_core.runnables import RunnableLambda

        (RunnableLambda(lambda x: x + 1, name="inc") | RunnableLambda(str)).invoke(1)
        print(sorted(s.name for s in exporter.get_finished_spans()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(["chain RunnableSequence", "chain inc", "chain str"])


def test_coexists_with_another_tools_wrapper(provider, exporter) -> None:
    calls: list[str] = []

    def foreign(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        calls.append("foreign")
        wrapped(*args, **kwargs)

    original = BaseCallbackManager.__dict__["__init__"]
    wrapt.wrap_function_wrapper(BaseCallbackManager, "__init__", foreign)
    instrumentor = LangChainInstrumentor()
    try:
        instrumentor.instrument(tracer_provider=provider)
        assert chain().invoke("a") == "a"
        assert trees(exporter.get_finished_spans()) == [TREE]
        instrumentor.uninstrument()
        assert BaseCallbackManager.__dict__["__init__"]._self_wrapper is foreign
        calls.clear()
        chain().invoke("b")
        assert calls  # the other tool's wrapper still runs
        assert len(exporter.get_finished_spans()) == 5  # and ours no longer does
    finally:
        instrumentor.uninstrument()
        BaseCallbackManager.__init__ = original


def test_user_handler_on_a_model_under_autolog_gives_one_span(
    instrumentor, provider, exporter
) -> None:
    own = SpanrunCallbackHandler(tracer_provider=provider)
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    traced = prompt | ParrotFakeChatModel().with_config(callbacks=[own]) | StrOutputParser()

    assert traced.invoke({"q": "once"}) == "once"
    assert trees(exporter.get_finished_spans()) == [
        (
            "chain RunnableSequence",
            [
                ("prompt ChatPromptTemplate", []),
                ("chat ParrotFakeChatModel", []),
                ("parser StrOutputParser", []),
            ],
        )
    ]
    assert own.open_runs == 0
    assert instrumentor.handler is not None
    assert instrumentor.handler.open_runs == 0
