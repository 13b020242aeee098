"""Every model call of an evaluation is autologged into the evaluation's run: per-call metrics,
prediction rows and traces; evaluate turns autolog on for its duration when it is off."""

from __future__ import annotations

import pandas as pd
from langchain_openai import ChatOpenAI

import spanrun
from spanrun import _autolog
from tests.e2e._helpers import predictions, steps

QUESTIONS = pd.DataFrame(
    {
        "inputs": ["What is MLflow?", "What is Spark?", "What is a span?"],
        "ground_truth": ["MLflow is a platform.", "Spark is an engine.", "A span is a step."],
    }
)
MESSAGES = [
    {"role": "system", "content": "Answer the following question in two sentences"},
    {"role": "user", "content": "{question}"},
]


def _check_calls_in_run(store, run_id: str, texts: list[str]) -> None:
    rows = predictions(store, run_id)
    assert sorted(rows["inputs"]) == sorted(texts)
    assert sorted(rows["outputs"]) == sorted(f"Echo: {t}" for t in texts)
    assert set(rows["model"]) == {"gpt-4o-mini"}
    assert [s for s, _ in steps(store, run_id, "llm.calls")] == list(range(len(texts)))
    traces = store.search_traces(run_id=run_id)
    assert {t.trace_id for t in traces} == set(rows["trace_id"])


def test_calls_land_in_the_evaluation_run_with_autolog_on(openai_env, store):
    spanrun.autolog()
    with spanrun.start_run() as run:
        info = spanrun.openai.log_model(
            model="gpt-4o-mini", task="chat.completions", messages=MESSAGES
        )
        result = spanrun.evaluate(
            info.model_uri, QUESTIONS, targets="ground_truth", model_type="question-answering"
        )
    assert result.run_id == run.info.run_id
    _check_calls_in_run(store, run.info.run_id, QUESTIONS["inputs"].tolist())
    assert _autolog._state.instrumentors  # left on, as the user set it


def test_evaluate_turns_autolog_on_for_its_duration(openai_env, store):
    assert not _autolog._state.instrumentors
    info = spanrun.openai.log_model(model="gpt-4o-mini", task="chat.completions",
                                    messages=MESSAGES)  # fmt: skip
    result = spanrun.evaluate(info.model_uri, QUESTIONS, model_type="text")
    assert not _autolog._state.instrumentors  # off again
    _check_calls_in_run(store, result.run_id, QUESTIONS["inputs"].tolist())
    assert store.get_run(result.run_id).info.status == "FINISHED"
    # Calls after the evaluation are not autologged any more.
    spanrun.pyfunc.load_model(info.model_uri).predict(["after"])
    assert "after" not in predictions(store, result.run_id)["inputs"].tolist()


def test_no_model_no_autolog(store):
    result = spanrun.evaluate(data=QUESTIONS, predictions="ground_truth", model_type="text")
    assert not _autolog._state.instrumentors
    assert "ari_grade_level/v1/mean" in result.metrics


def test_langchain_chat_model_is_traced(openai_env, store):
    chat = ChatOpenAI(model="gpt-4o-mini", base_url=openai_env.base_url, api_key="sk-test",
                      max_retries=0)  # fmt: skip
    result = spanrun.evaluate(chat, QUESTIONS[["inputs"]], model_type="text")
    table = result.tables["eval_results_table"]
    assert table["outputs"].tolist() == [f"Echo: {q}" for q in QUESTIONS["inputs"]]
    rows = predictions(store, result.run_id)
    assert sorted(rows["outputs"]) == sorted(table["outputs"])
    # Tokens counted once per call although LangChain's span wraps OpenAI's.
    assert [v for _, v in steps(store, result.run_id, "llm.calls")] == [1, 2, 3]
