"""autolog with LangChain (langchain-openai's ChatOpenAI) over the local OpenAI server."""

from __future__ import annotations

import json

import pytest

import spanrun

from ._helpers import predictions, steps

pytest.importorskip("langchain_openai")


def make_chain(base_url: str):
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        base_url=base_url,
        api_key="test-key",
        model="gpt-4o-mini",
        temperature=0.3,
        max_retries=0,
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), ("user", "Tell me about {topic}")]
    )
    return prompt | llm | StrOutputParser()


def test_tokens_counted_once_when_langchain_wraps_openai(autolog, store, openai_server):
    autolog.autolog(run_mode="none")  # both libraries
    chain = make_chain(openai_server.base_url)
    with spanrun.start_run() as run:
        assert chain.invoke({"topic": "otel"}) == "Echo: Tell me about otel"
        assert chain.invoke({"topic": "runs"}) == "Echo: Tell me about runs"
    run_id = run.info.run_id
    assert steps(store, run_id, "llm.calls") == [(0, 1), (1, 2)]
    per_call = [v for _, v in steps(store, run_id, "llm.input_tokens")]
    assert steps(store, run_id, "llm.cumulative_input_tokens")[-1] == (1, sum(per_call))
    rows = predictions(store, run_id)
    # The user-side input is the chain's input (the root span's input.value).
    assert [json.loads(x) for x in rows["inputs"]] == [{"topic": "otel"}, {"topic": "runs"}]
    assert "Tell me about otel" in rows["prompts"][0]
    assert rows["outputs"].tolist() == ["Echo: Tell me about otel", "Echo: Tell me about runs"]

    infos = store.search_traces(run_id=run_id)
    assert len(infos) == 2
    trace = store.get_trace(rows["trace_id"][0])
    (root,) = trace.root_spans
    assert root.name == "chain RunnableSequence"
    children = trace.children(root.span_id)
    (chat_model,) = [c for c in children if c.attributes.get("gen_ai.operation.name")]
    (provider_span,) = trace.children(chat_model.span_id)
    # The row is the innermost (provider) span's.
    assert provider_span.span_id == rows["span_id"][0]
    assert provider_span.name == "chat gpt-4o-mini"
    assert {s.run_id for s in trace.spans} == {run_id}


def test_langchain_only_counts_the_chat_model_span(autolog, store, openai_server):
    autolog.autolog(run_mode="none", libraries=["langchain"])
    chain = make_chain(openai_server.base_url)
    with spanrun.start_run() as run:
        chain.invoke({"topic": "otel"})
    rows = predictions(store, run.info.run_id)
    assert json.loads(rows["inputs"][0]) == {"topic": "otel"}
    trace = store.get_trace(rows["trace_id"][0])
    (llm_span,) = [s for s in trace.spans if s.attributes.get("gen_ai.operation.name")]
    assert llm_span.span_id == rows["span_id"][0]
    assert int(rows["input_tokens"][0]) > 0
