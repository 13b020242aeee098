"""A tool-calling agent loop and a retriever chain, built from real langchain-core parts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import (
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool
from opentelemetry.trace import StatusCode

from spanrun.exporters import llm_operation

from ._spans import attr_json, by_name, trees

CHAT = "chat FakeMessagesListChatModel"
TOOL = "execute_tool get_weather"


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    if city == "Atlantis":
        raise ValueError("no weather under water")
    return f"sunny in {city}"


def scripted_model(city: str = "Paris") -> FakeMessagesListChatModel:
    call = {"name": "get_weather", "args": {"city": city}, "id": "call_1"}
    return FakeMessagesListChatModel(
        responses=[AIMessage(content="", tool_calls=[call]), AIMessage(content="It is sunny.")]
    )


def make_agent(model: FakeMessagesListChatModel) -> Any:
    tools = {"get_weather": get_weather}

    def agent(question: str) -> str:
        # Config (and so the callbacks) reaches model and tool through langchain's context.
        messages: list[BaseMessage] = [HumanMessage(question)]
        while True:
            reply = model.invoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return str(reply.content)
            for call in reply.tool_calls:
                messages.append(tools[call["name"]].invoke(call))

    async def aagent(question: str) -> str:
        messages: list[BaseMessage] = [HumanMessage(question)]
        while True:
            reply = await model.ainvoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return str(reply.content)
            for call in reply.tool_calls:
                messages.append(await tools[call["name"]].ainvoke(call))

    return RunnableLambda(agent, afunc=aagent, name="agent")


AGENT_TREE = ("chain agent", [(CHAT, []), (TOOL, []), (CHAT, [])])


def check_agent_spans(spans: Any) -> None:
    assert trees(spans) == [AGENT_TREE]
    tool_span = by_name(spans, TOOL)
    attrs = tool_span.attributes
    assert attrs["gen_ai.tool.name"] == "get_weather"
    assert attrs["gen_ai.tool.call.id"] == "call_1"
    assert attrs["gen_ai.tool.description"] == "Weather for a city."
    assert json.loads(attrs["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert attrs["gen_ai.tool.call.result"] == "sunny in Paris"
    assert attrs["gen_ai.operation.name"] == "execute_tool"  # the GenAI conventions ask it
    assert llm_operation(attrs) is None  # and it is not an LLM call for the exporter

    first, second = sorted((s for s in spans if s.name == CHAT), key=lambda s: s.start_time)
    assert attr_json(first, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        }
    ]
    history = attr_json(second, "gen_ai.input.messages")
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[2]["parts"] == [
        {"type": "tool_call_response", "id": "call_1", "response": "sunny in Paris"}
    ]


def test_agent_loop_tree(handler, exporter) -> None:
    answer = make_agent(scripted_model()).invoke("Weather?", config={"callbacks": [handler]})

    assert answer == "It is sunny."
    check_agent_spans(exporter.get_finished_spans())
    assert handler.open_runs == 0


async def test_async_agent_loop_tree(handler, exporter) -> None:
    agent = make_agent(scripted_model())
    answer = await agent.ainvoke("Weather?", config={"callbacks": [handler]})

    assert answer == "It is sunny."
    check_agent_spans(exporter.get_finished_spans())
    assert handler.open_runs == 0


def test_failing_tool_marks_error_and_reraises(handler, exporter) -> None:
    with pytest.raises(ValueError, match="no weather under water"):
        make_agent(scripted_model("Atlantis")).invoke("?", config={"callbacks": [handler]})

    spans = exporter.get_finished_spans()
    assert trees(spans) == [("chain agent", [(CHAT, []), (TOOL, [])])]
    tool_span = by_name(spans, TOOL)
    assert tool_span.status.status_code is StatusCode.ERROR
    assert tool_span.attributes["error.type"] == "ValueError"
    assert by_name(spans, "chain agent").status.status_code is StatusCode.ERROR
    assert handler.open_runs == 0


class KeywordRetriever(BaseRetriever):
    """Documents whose text contains the query."""

    docs: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [d for d in self.docs if query.lower() in d.page_content.lower()]


DOCS = [
    Document("Otters hold hands while sleeping.", metadata={"source": "a.txt"}, id="1"),
    Document("Cats sleep a lot.", metadata={"source": "b.txt"}, id="2"),
    Document("Otters use stones as tools.", metadata={"source": "c.txt"}, id="3"),
]


def test_retriever_span(handler, exporter) -> None:
    docs = KeywordRetriever(docs=DOCS).invoke("otters", config={"callbacks": [handler]})

    assert [d.id for d in docs] == ["1", "3"]
    (span,) = exporter.get_finished_spans()
    assert span.name == "retrieve KeywordRetriever"
    assert span.attributes["input.value"] == "otters"
    assert span.attributes["langchain.retriever.document_count"] == 2
    assert attr_json(span, "output.value") == [
        {
            "page_content": "Otters hold hands while sleeping.",
            "metadata": {"source": "a.txt"},
            "id": "1",
        },
        {"page_content": "Otters use stones as tools.", "metadata": {"source": "c.txt"}, "id": "3"},
    ]


def test_retrieval_chain_tree(handler, exporter) -> None:
    def format_docs(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    prompt = ChatPromptTemplate.from_messages([("human", "{context}\n\nQ: {question}")])
    model = GenericFakeChatModel(messages=iter([AIMessage("They hold hands.")]))
    chain = (
        {
            "context": KeywordRetriever(docs=DOCS) | RunnableLambda(format_docs),
            "question": RunnablePassthrough(),
        }
        | prompt
        | model
        | StrOutputParser()
    )
    assert chain.invoke("otters", config={"callbacks": [handler]}) == "They hold hands."

    spans = exporter.get_finished_spans()
    ((root, children),) = trees(spans)
    assert root == "chain RunnableSequence"
    parallel, branches = children[0]
    assert parallel == "chain RunnableParallel<context,question>"
    assert sorted(branches) == [
        ("chain RunnablePassthrough", []),
        ("chain RunnableSequence", [("retrieve KeywordRetriever", []), ("chain format_docs", [])]),
    ]
    assert children[1:] == [
        ("prompt ChatPromptTemplate", []),
        ("chat GenericFakeChatModel", []),
        ("parser StrOutputParser", []),
    ]
    chat = by_name(spans, "chat GenericFakeChatModel")
    prompt_text = attr_json(chat, "gen_ai.input.messages")[0]["parts"][0]["content"]
    assert prompt_text.startswith("Otters hold hands while sleeping.\nOtters use stones")
