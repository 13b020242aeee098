"""langchain-openai's ChatOpenAI against the local server, with OpenAI instrumented too."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from opentelemetry.trace import SpanKind

from spanrun.instrumentation.openai import OpenAIInstrumentor

from ._spans import attr_json, trees

MODEL = "gpt-4o-mini"
CHAT = f"chat {MODEL}"
SEQ = "chain RunnableSequence"
CHAIN_TREE = (
    SEQ,
    [("prompt ChatPromptTemplate", []), (CHAT, [(CHAT, [])]), ("parser StrOutputParser", [])],
)


@pytest.fixture
def openai_instrumented(provider) -> Iterator[None]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield
    instrumentor.uninstrument()


@pytest.fixture
def llm(openai_server) -> ChatOpenAI:
    # Own HTTP clients: langchain-openai otherwise shares one async pool across event loops.
    # Few connections: the test server's listen backlog is small; the 25 concurrent chains
    # still overlap, waiting on the pool.
    return ChatOpenAI(
        model=MODEL,
        base_url=openai_server.base_url,
        api_key="unused",
        max_retries=0,
        temperature=0.2,
        max_tokens=50,
        http_client=httpx.Client(),
        http_async_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=4)),
    )


def chain_of(llm: ChatOpenAI) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    return prompt | llm | StrOutputParser()


def _pair(spans) -> tuple[Any, Any]:
    """The LangChain chat-model span and the OpenAI span directly under it."""
    outer = [s for s in spans if s.name == CHAT and "langchain.run_type" in s.attributes]
    inner = [s for s in spans if s.name == CHAT and "langchain.run_type" not in s.attributes]
    assert len(outer) == len(inner) == 1
    assert inner[0].parent.span_id == outer[0].context.span_id
    return outer[0], inner[0]


def test_openai_span_nests_under_chat_model_span(
    openai_instrumented, handler, exporter, llm
) -> None:
    assert chain_of(llm).invoke({"q": "hi"}, config={"callbacks": [handler]}) == "Echo: hi"

    spans = exporter.get_finished_spans()
    assert trees(spans) == [CHAIN_TREE]
    outer, inner = _pair(spans)
    assert outer.kind is SpanKind.CLIENT
    attrs = outer.attributes
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    # Both layers report the same call; the exporter counts only the innermost one.
    for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.response.id"):
        assert attrs[key] == inner.attributes[key]
    assert attr_json(outer, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Echo: hi"}],
            "finish_reason": "stop",
        }
    ]


def test_stream_nests_openai_span(openai_instrumented, handler, exporter, llm) -> None:
    text = "".join(chain_of(llm).stream({"q": "hi"}, config={"callbacks": [handler]}))

    assert text == "Echo: hi"
    spans = exporter.get_finished_spans()
    assert trees(spans) == [CHAIN_TREE]
    outer, inner = _pair(spans)
    assert outer.attributes["gen_ai.request.stream"] is True
    assert inner.attributes["gen_ai.request.stream"] is True


async def test_concurrent_ainvoke_keeps_trees_apart(
    openai_instrumented, provider, handler, exporter, llm
) -> None:
    chain = chain_of(llm)
    tracer = provider.get_tracer("user")

    async def one(i: int) -> str:
        with tracer.start_as_current_span(f"request {i}"):
            return await chain.ainvoke({"q": f"question {i}"}, config={"callbacks": [handler]})

    results = await asyncio.gather(*(one(i) for i in range(25)))

    assert results == [f"Echo: question {i}" for i in range(25)]
    spans = exporter.get_finished_spans()
    forest = trees(spans)
    assert sorted(forest) == sorted((f"request {i}", [CHAIN_TREE]) for i in range(25))
    # Every OpenAI span sits in the trace of the request that asked its question.
    for i in range(25):
        (root,) = [s for s in spans if s.name == f"request {i}"]
        in_trace = [s for s in spans if s.context.trace_id == root.context.trace_id]
        outer, inner = _pair(in_trace)
        assert attr_json(inner, "gen_ai.input.messages")[-1]["parts"][0]["content"] == (
            f"question {i}"
        )
        assert attr_json(outer, "gen_ai.output.messages")[0]["parts"][0]["content"] == (
            f"Echo: question {i}"
        )
    assert handler.open_runs == 0


async def test_top_level_ainvoke_does_not_capture_later_calls(
    openai_instrumented, handler, exporter, llm
) -> None:
    # End callbacks run in a copied context here, so the model span cannot be detached from
    # this task's context; later calls must still not become its children.
    await llm.ainvoke("first", config={"callbacks": [handler]})
    client = llm.root_async_client
    await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])

    forest = trees(exporter.get_finished_spans())
    assert forest == [(CHAT, [(CHAT, [])]), (CHAT, [])]


def test_tokens_for_run_mode_trace_are_on_both_layers_once(
    openai_instrumented, handler, exporter, llm
) -> None:
    llm.invoke("count me", config={"callbacks": [handler]})

    outer, inner = _pair(exporter.get_finished_spans())
    assert inner.attributes["gen_ai.usage.input_tokens"] > 0
    assert (
        outer.attributes["gen_ai.usage.input_tokens"]
        == inner.attributes["gen_ai.usage.input_tokens"]
    )


def test_completion_llm_nests_openai_span(openai_instrumented, handler, exporter, openai_server):
    from langchain_openai import OpenAI

    llm = OpenAI(
        model="gpt-3.5-turbo-instruct",
        base_url=openai_server.base_url,
        api_key="unused",
        max_retries=0,
        max_tokens=20,
        http_client=httpx.Client(),
    )
    text = llm.invoke("Say hi", config={"callbacks": [handler]})

    assert text
    name = "text_completion gpt-3.5-turbo-instruct"
    spans = exporter.get_finished_spans()
    assert trees(spans) == [(name, [(name, [])])]
    (outer,) = [s for s in spans if "langchain.run_type" in s.attributes]
    assert outer.attributes["gen_ai.operation.name"] == "text_completion"
    assert outer.attributes["gen_ai.request.max_tokens"] == 20
    assert attr_json(outer, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}
    ]


async def test_concurrent_astream_keeps_trees_apart(
    openai_instrumented, handler, exporter, llm
) -> None:
    chain = chain_of(llm)

    async def one(i: int) -> str:
        parts = [c async for c in chain.astream({"q": f"s{i}"}, {"callbacks": [handler]})]
        return "".join(parts)

    results = await asyncio.gather(*(one(i) for i in range(10)))

    assert results == [f"Echo: s{i}" for i in range(10)]
    spans = exporter.get_finished_spans()
    assert trees(spans) == [CHAIN_TREE] * 10
    for root in (s for s in spans if s.name == SEQ):
        in_trace = [s for s in spans if s.context.trace_id == root.context.trace_id]
        _, inner = _pair(in_trace)
        asked = attr_json(inner, "gen_ai.input.messages")[-1]["parts"][0]["content"]
        assert root.attributes["output.value"] == f"Echo: {asked}"
    assert handler.open_runs == 0
