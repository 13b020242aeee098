"""LangChain through ``spanrun.autolog()`` into a real SQLite store: runs and their contents."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_openai import ChatOpenAI

import spanrun
from spanrun._autolog import _Autolog
from spanrun.artifacts import get_artifact_repository
from spanrun.store.base import Store
from spanrun.tracking import _async_logging, _uri
from spanrun.tracking.fluent import tracker

MODEL = "gpt-4o-mini"


def _reset() -> None:
    while spanrun.active_run() is not None:
        with contextlib.suppress(Exception):
            spanrun.end_run()
    with contextlib.suppress(Exception):
        _async_logging.flush()
    tracker.reset()
    _uri._state.reset()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    for name in ("SPANRUN_TRACKING_URI", "SPANRUN_RUN_ID", "SPANRUN_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    _reset()
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    spanrun.set_tracking_uri(uri)
    yield _uri.get_store_for_uri(uri)
    _reset()


@pytest.fixture
def autolog() -> Iterator[_Autolog]:
    """A private autolog state (the code behind ``spanrun.autolog``), undone afterwards."""
    state = _Autolog()
    yield state
    state.autolog(disable=True)


@pytest.fixture
def llm(openai_server) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL,
        base_url=openai_server.base_url,
        api_key="unused",
        max_retries=0,
        temperature=0.0,
        http_client=httpx.Client(),
    )


def predictions(store: Store, run_id: str) -> pd.DataFrame:
    repo = get_artifact_repository(store.get_run(run_id).info.artifact_uri)
    data = repo.read_bytes("llm_predictions.csv")
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def test_trace_mode_chain_becomes_one_run_with_its_prediction_row(autolog, store, llm) -> None:
    autolog.autolog(run_mode="trace")
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    chain = prompt | llm | StrOutputParser()

    assert chain.invoke({"q": "what is up"}) == "Echo: what is up"
    assert autolog.flush()

    (run,) = store.search_runs(["0"])
    assert run.info.run_name == "chain RunnableSequence"
    assert run.info.status == "FINISHED"
    # Tokens are counted once: only the innermost (OpenAI) span of the call counts.
    assert run.data.metrics["llm.calls"] == 1
    calls = store.get_metric_history(run.info.run_id, "llm.input_tokens")
    assert len(calls) == 1
    assert run.data.params["llm.model"] == MODEL

    (row,) = predictions(store, run.info.run_id).to_dict("records")
    assert json.loads(row["inputs"]) == {"q": "what is up"}  # the chain's input
    assert row["outputs"] == "Echo: what is up"
    assert row["model"] == MODEL
    prompt_sent = json.loads(row["prompts"])
    assert "Be brief." in json.dumps(prompt_sent)
    assert "what is up" in json.dumps(prompt_sent)

    (info,) = store.search_traces(run_id=run.info.run_id)
    trace = store.get_trace(info.trace_id)
    (root,) = trace.root_spans
    assert root.name == "chain RunnableSequence"
    names = [c.name for c in trace.children(root.span_id)]
    assert names == ["prompt ChatPromptTemplate", f"chat {MODEL}", "parser StrOutputParser"]
    (chat,) = [c for c in trace.children(root.span_id) if c.name == f"chat {MODEL}"]
    assert [c.name for c in trace.children(chat.span_id)] == [f"chat {MODEL}"]


def test_mlflow_docs_prompt_template_example_unchanged(autolog, store) -> None:
    autolog.autolog()
    mlflow = spanrun  # ``import spanrun as mlflow``

    template = "Tell me a {adjective} joke about {content}."
    with mlflow.start_run() as run:
        mlflow.log_param("prompt_template", template)
        prompt = PromptTemplate(input_variables=["adjective", "content"], template=template)
        values = {"adjective": "funny", "content": "chickens"}
        formatted = prompt.format(**values)
        mlflow.log_params(values)
        mlflow.log_text(formatted, "formatted_prompt.txt")
        # The runnable form is traced too, into the active run.
        assert prompt.invoke(values).to_string() == formatted

    assert autolog.flush()
    stored = store.get_run(run.info.run_id)
    assert stored.data.params == {
        "prompt_template": template,
        "adjective": "funny",
        "content": "chickens",
    }
    assert formatted == "Tell me a funny joke about chickens."
    (info,) = store.search_traces(run_id=run.info.run_id)
    (root,) = store.get_trace(info.trace_id).root_spans
    assert root.name == "prompt PromptTemplate"
    assert root.attributes["langchain.prompt.template"] == template
