"""LCEL chains with fake chat models: exact span trees for every invocation style."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from spanrun.instrumentation.langchain import SpanrunCallbackHandler

from ._spans import attr_json, by_name, trees

SEQ = "chain RunnableSequence"
PROMPT = "prompt ChatPromptTemplate"
CHAT = "chat GenericFakeChatModel"
PARSER = "parser StrOutputParser"
CHAIN_TREE = (SEQ, [(PROMPT, []), (CHAT, []), (PARSER, [])])


def fake_model(text: str = "hello there", n: int = 20) -> GenericFakeChatModel:
    usage = {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
    return GenericFakeChatModel(
        messages=iter([AIMessage(content=text, usage_metadata=usage) for _ in range(n)])
    )


def make_chain(model: Any = None) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    return prompt | (model or fake_model()) | StrOutputParser()


def test_invoke_gives_exact_tree_and_attributes(handler, exporter) -> None:
    result = make_chain().invoke({"question": "hi?"}, config={"callbacks": [handler]})

    assert result == "hello there"
    spans = exporter.get_finished_spans()
    assert trees(spans) == [CHAIN_TREE]

    root = by_name(spans, SEQ)
    assert root.kind is SpanKind.INTERNAL
    assert attr_json(root, "input.value") == {"question": "hi?"}
    assert root.attributes["output.value"] == "hello there"
    assert "gen_ai.operation.name" not in root.attributes

    prompt = by_name(spans, PROMPT)
    assert prompt.attributes["langchain.prompt.input_variables"] == ("question",)
    assert json.loads(prompt.attributes["langchain.prompt.template"]) == [
        {"type": "SystemMessagePromptTemplate", "template": "Be brief."},
        {"type": "HumanMessagePromptTemplate", "template": "{question}"},
    ]
    assert attr_json(prompt, "output.value") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi?"},
    ]

    chat = by_name(spans, CHAT)
    assert chat.kind is SpanKind.CLIENT
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 7
    assert chat.attributes["gen_ai.usage.output_tokens"] == 2
    assert attr_json(chat, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi?"}]},
    ]
    assert attr_json(chat, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello there"}]}
    ]
    assert by_name(spans, PARSER).attributes["output.value"] == "hello there"
    assert handler.open_runs == 0


def test_prompt_template_span(handler, exporter) -> None:
    prompt = PromptTemplate.from_template("Tell me about {topic} in {n} words")
    value = prompt.invoke({"topic": "otters", "n": 5}, config={"callbacks": [handler]})

    assert value.to_string() == "Tell me about otters in 5 words"
    (span,) = exporter.get_finished_spans()
    assert span.name == "prompt PromptTemplate"
    assert span.attributes["langchain.prompt.template"] == "Tell me about {topic} in {n} words"
    assert sorted(span.attributes["langchain.prompt.input_variables"]) == ["n", "topic"]
    assert attr_json(span, "input.value") == {"topic": "otters", "n": 5}


async def test_ainvoke_gives_exact_tree(handler, exporter) -> None:
    result = await make_chain().ainvoke({"question": "hi?"}, config={"callbacks": [handler]})

    assert result == "hello there"
    assert trees(exporter.get_finished_spans()) == [CHAIN_TREE]
    assert handler.open_runs == 0


def test_stream_gives_one_tree_with_real_input(handler, exporter) -> None:
    chunks = list(make_chain().stream({"question": "hi?"}, config={"callbacks": [handler]}))

    assert "".join(chunks) == "hello there"
    spans = exporter.get_finished_spans()
    assert trees(spans) == [CHAIN_TREE]
    root = by_name(spans, SEQ)
    assert attr_json(root, "input.value") == {"question": "hi?"}
    assert root.attributes["output.value"] == "hello there"
    chat = by_name(spans, CHAT)
    assert chat.attributes["gen_ai.request.stream"] is True
    assert chat.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert attr_json(chat, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "hello there"}
    ]


async def test_astream_gives_one_tree(handler, exporter) -> None:
    chunks = [c async for c in make_chain().astream({"question": "x"}, {"callbacks": [handler]})]

    assert "".join(chunks) == "hello there"
    assert trees(exporter.get_finished_spans()) == [CHAIN_TREE]
    assert handler.open_runs == 0


async def test_astream_events_gives_one_tree(handler, exporter) -> None:
    events = [
        e
        async for e in make_chain().astream_events(
            {"question": "x"}, config={"callbacks": [handler]}, version="v2"
        )
    ]

    assert events[-1]["event"] == "on_chain_end"
    assert trees(exporter.get_finished_spans()) == [CHAIN_TREE]
    assert handler.open_runs == 0


def test_batch_gives_one_tree_per_input(handler, exporter) -> None:
    questions = [{"question": f"q{i}"} for i in range(4)]
    results = make_chain().batch(questions, config={"callbacks": [handler]})

    assert results == ["hello there"] * 4
    spans = exporter.get_finished_spans()
    assert trees(spans) == [CHAIN_TREE] * 4
    inputs = sorted(attr_json(s, "input.value")["question"] for s in spans if s.name == SEQ)
    assert inputs == ["q0", "q1", "q2", "q3"]
    # Each chat span sits in the trace of the chain that was given its question.
    for root in (s for s in spans if s.name == SEQ):
        question = attr_json(root, "input.value")["question"]
        (chat,) = [
            s for s in spans if s.name == CHAT and s.context.trace_id == root.context.trace_id
        ]
        assert attr_json(chat, "gen_ai.input.messages")[1]["parts"][0]["content"] == question


async def test_abatch_gives_one_tree_per_input(handler, exporter) -> None:
    questions = [{"question": f"q{i}"} for i in range(4)]
    results = await make_chain().abatch(questions, config={"callbacks": [handler]})

    assert results == ["hello there"] * 4
    assert trees(exporter.get_finished_spans()) == [CHAIN_TREE] * 4


def test_lambda_and_parallel(handler, exporter) -> None:
    def shout(text: str) -> str:
        return text.upper()

    chain = make_chain() | RunnableParallel(loud=RunnableLambda(shout), length=RunnableLambda(len))
    result = chain.invoke({"question": "q"}, config={"callbacks": [handler]})

    assert result == {"loud": "HELLO THERE", "length": 11}
    (tree,) = trees(exporter.get_finished_spans())
    name, children = tree
    assert name == SEQ
    assert children[:3] == [(PROMPT, []), (CHAT, []), (PARSER, [])]
    parallel_name, branches = children[3]
    assert parallel_name == "chain RunnableParallel<loud,length>"
    assert sorted(branches) == [("chain len", []), ("chain shout", [])]
    shout_span = by_name(exporter.get_finished_spans(), "chain shout")
    assert shout_span.attributes["input.value"] == "hello there"
    assert shout_span.attributes["output.value"] == "HELLO THERE"


def test_error_marks_spans_and_keeps_exception(handler, exporter) -> None:
    class Boom(RuntimeError):
        pass

    def explode(_: str) -> str:
        raise Boom("no luck")

    chain = make_chain() | RunnableLambda(explode)
    with pytest.raises(Boom, match="no luck") as caught:
        chain.invoke({"question": "q"}, config={"callbacks": [handler]})

    assert type(caught.value) is Boom
    spans = exporter.get_finished_spans()
    for name in (SEQ, "chain explode"):
        span = by_name(spans, name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"].endswith("Boom")
        assert any(e.name == "exception" for e in span.events)
    assert by_name(spans, CHAT).status.status_code is StatusCode.UNSET
    assert handler.open_runs == 0


def test_chain_nests_under_the_users_span(provider, handler, exporter) -> None:
    tracer = provider.get_tracer("user")
    with tracer.start_as_current_span("request"):
        make_chain().invoke({"question": "q"}, config={"callbacks": [handler]})

    assert trees(exporter.get_finished_spans()) == [("request", [CHAIN_TREE])]


def test_user_spans_inside_a_runnable_nest_under_it(provider, handler, exporter) -> None:
    tracer = provider.get_tracer("user")

    def step(text: str) -> str:
        trace.get_current_span().set_attribute("user.mark", 1)  # lands on the step's span
        with tracer.start_as_current_span("inside step"):
            return text

    chain = make_chain() | RunnableLambda(step)
    chain.invoke({"question": "q"}, config={"callbacks": [handler]})
    with tracer.start_as_current_span("after"):
        pass

    spans = exporter.get_finished_spans()
    (tree, after) = trees(spans)
    assert tree[1][-1] == ("chain step", [("inside step", [])])
    assert after == ("after", [])
    assert by_name(spans, "chain step").attributes["user.mark"] == 1


def test_content_off_records_structure_only(provider, exporter) -> None:
    handler = SpanrunCallbackHandler(tracer_provider=provider, log_content=False)
    make_chain().invoke({"question": "secret"}, config={"callbacks": [handler]})

    spans = exporter.get_finished_spans()
    assert trees(spans) == [CHAIN_TREE]
    for span in spans:
        dumped = json.dumps(dict(span.attributes))
        assert "secret" not in dumped
        assert "hello there" not in dumped
    assert by_name(spans, CHAT).attributes["gen_ai.usage.input_tokens"] == 7


def test_content_env_switch(provider, exporter, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    handler = SpanrunCallbackHandler(tracer_provider=provider)
    make_chain().invoke({"question": "secret"}, config={"callbacks": [handler]})

    chat = by_name(exporter.get_finished_spans(), CHAT)
    assert "gen_ai.input.messages" not in chat.attributes


def test_handler_on_model_only(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    handler = SpanrunCallbackHandler(tracer_provider=provider)
    model = fake_model().with_config(callbacks=[handler])
    make_chain(model).invoke({"question": "q"})

    assert trees(exporter.get_finished_spans()) == [(CHAT, [])]
