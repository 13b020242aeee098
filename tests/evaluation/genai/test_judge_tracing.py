"""Judge calls under autolog: ordinary LLM calls of the evaluation's run (metrics, cost,
traces), kept out of the run's ``llm_predictions.csv``, which holds the evaluated model's calls."""

from __future__ import annotations

import pandas as pd
from opentelemetry.sdk.trace import TracerProvider

import openai
import spanrun
from spanrun.exporters import JUDGE_ATTRIBUTE
from spanrun.metrics.genai import answer_correctness
from tests.e2e._helpers import chat, predictions, steps

PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}


def test_judge_calls_are_autologged_into_the_active_run(judge, autolog, store):
    autolog.autolog(prices=PRICES)
    client = openai.OpenAI(base_url=judge.base_url, api_key="sk-test", max_retries=0)
    metric = answer_correctness(max_workers=3)
    rows = 5
    with spanrun.start_run() as run:
        answer = chat(client, "the evaluated model's call")
        value = metric.eval_fn(
            predictions=pd.Series([f"answer {i}" for i in range(rows)]),
            metrics={},
            inputs=pd.Series([f"question {i}" for i in range(rows)]),
            targets=pd.Series([f"answer {i}" for i in range(rows)]),
        )
    run_id = run.info.run_id
    assert value.scores == [5] * rows

    # Every call counts in the run: the model's and the judge's (from the worker threads).
    calls = steps(store, run_id, "llm.calls")
    assert calls[-1] == (rows, rows + 1)
    cost = steps(store, run_id, "llm.cost_usd")
    assert len(cost) == rows + 1 and all(v > 0 for _, v in cost)
    judge_tokens = sum(v for s, v in steps(store, run_id, "llm.input_tokens") if s > 0)
    assert judge_tokens > rows * 100  # the grading prompts are long

    # Only the evaluated model's call is a prediction row.
    table = predictions(store, run_id)
    assert table["outputs"].tolist() == [answer]

    # Each judge call is a trace: a "judge <metric>" span over the autologged chat span.
    traces = [store.get_trace(t.trace_id) for t in store.search_traces(run_id=run_id)]
    judged = [t for t in traces if t.root_spans[0].name == "judge answer_correctness"]
    assert len(judged) == rows
    for trace in judged:
        (root,) = trace.root_spans
        (llm,) = trace.children(root.span_id)
        assert llm.name == "chat gpt-4o-mini"
        assert llm.run_id == root.run_id == run_id
        assert llm.attributes[JUDGE_ATTRIBUTE] == "answer_correctness"
        assert root.attributes["spanrun.judge.score"] == 5
        assert "Grading rubric:" in llm.attributes["gen_ai.input.messages"]
    assert sorted(t.root_spans[0].attributes["spanrun.judge.row"] for t in judged) == list(
        range(rows)
    )


def test_judge_rows_stay_out_of_the_csv_in_session_mode_too(judge, autolog, store):
    # Outside a run, the judge's calls go to the session run, as any autologged call; a model
    # call of the same session keeps its row.
    autolog.autolog()
    client = openai.OpenAI(base_url=judge.base_url, api_key="sk-test", max_retries=0)
    chat(client, "before")
    value = answer_correctness().eval_fn(
        predictions=pd.Series(["a b", "c"]),
        metrics={},
        inputs=pd.Series(["q", "r"]),
        targets=pd.Series(["a b", "c"]),
    )
    chat(client, "after")
    assert value.scores == [5, 5]
    autolog.flush()
    session_id = autolog.exporter.session_run_id
    assert steps(store, session_id, "llm.calls")[-1] == (3, 4)
    assert predictions(store, session_id)["inputs"].tolist() == ["before", "after"]


def test_judge_calls_are_marked_on_a_provider_of_the_users_too(judge, autolog, store):
    # autolog on the user's own provider (not the global one): the judge's context value still
    # marks its LLM calls, which stay out of the CSV.
    provider = TracerProvider()
    autolog.autolog(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=judge.base_url, api_key="sk-test", max_retries=0)
        with spanrun.start_run() as run:
            chat(client, "model call")
            value = answer_correctness().eval_fn(
                predictions=pd.Series(["a b"]),
                metrics={},
                inputs=pd.Series(["q"]),
                targets=pd.Series(["a b"]),
            )
        assert value.scores == [5]
        run_id = run.info.run_id
        assert steps(store, run_id, "llm.calls")[-1] == (1, 2)
        assert predictions(store, run_id)["inputs"].tolist() == ["model call"]
        traces = [store.get_trace(t.trace_id) for t in store.search_traces(run_id=run_id)]
        chats = sorted(
            (s for t in traces for s in t.spans if s.name.startswith("chat")),
            key=lambda s: s.start_time_ns,
        )
        assert [JUDGE_ATTRIBUTE in s.attributes for s in chats] == [False, True]
    finally:
        autolog.autolog(disable=True)
        provider.shutdown()
