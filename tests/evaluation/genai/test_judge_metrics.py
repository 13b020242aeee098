"""LLM-judge metrics with spanrun's local server as the judge, called as ``evaluate`` calls them:
``eval_fn`` with keyword arguments (pandas Series, row-aligned)."""

from __future__ import annotations

import json
import logging
import time

import pandas as pd
import pytest

from spanrun.errors import InvalidInputError
from spanrun.evaluation import MetricValue
from spanrun.metrics.genai import (
    EvaluationExample,
    answer_correctness,
    answer_relevance,
    answer_similarity,
    faithfulness,
    make_genai_metric,
    make_genai_metric_from_prompt,
    relevance,
)
from spanrun.testing.openai_server import FAKE_HEADER

from ._helpers import prompts_sent

QUESTIONS = ["What is the capital of France?", "Which river crosses Rome?", "Who wrote Hamlet?"]
ANSWERS = ["Paris is the capital of France", "The Danube", "William Shakespeare wrote it"]
TRUTH = ["Paris is the capital of France", "The Tiber crosses Rome", "William Shakespeare"]
# The server's verdict: 1 + round(4 * share of the reference words found in the output).
EXPECTED = [5, 1 + round(4 * 1 / 4), 5]  # "the" of {the, tiber, crosses, rome}


def series(values: list[str]) -> pd.Series:
    return pd.Series(values)


def call(metric, **columns: list[str]) -> MetricValue:
    args = {k: series(v) for k, v in columns.items()}
    value = metric.eval_fn(predictions=series(ANSWERS), metrics={}, **args)
    assert isinstance(value, MetricValue)
    return value


@pytest.mark.parametrize(
    ("factory", "column", "includes_input"),
    [
        (answer_correctness, "targets", True),
        (answer_similarity, "targets", False),
        (faithfulness, "context", False),
        (relevance, "context", True),
    ],
)
def test_builtins_with_a_reference_score_every_row(judge, factory, column, includes_input):
    metric = factory(model="openai:/judge-model")
    assert metric.key == f"{metric.name}/v1"
    assert metric.greater_is_better is True
    value = call(metric, inputs=QUESTIONS, **{column: TRUTH})

    assert value.scores == EXPECTED
    assert value.justifications == [
        "6 of 6 reference words appear in the output.",
        "1 of 4 reference words appear in the output.",
        "2 of 2 reference words appear in the output.",
    ]
    mean = sum(EXPECTED) / 3
    assert value.aggregate_results == pytest.approx(
        {
            "mean": mean,
            "variance": sum((s - mean) ** 2 for s in EXPECTED) / 3,
            "p90": 5.0,
        }
    )
    prompts = prompts_sent(judge)
    assert len(prompts) == 3
    for question, answer, truth in zip(QUESTIONS, ANSWERS, TRUTH, strict=True):
        (prompt,) = [p for p in prompts if f"\nOutput:\n{answer}\n" in p]
        assert f"Additional information used by the model:\nkey: {column}\nvalue:\n{truth}" in (
            prompt
        )
        assert (f"\nInput:\n{question}\n" in prompt) is includes_input
        assert "Metric definition:" in prompt and "Grading rubric:" in prompt
        assert "Examples:" in prompt  # the built-in examples
    bodies = [r.body for r in judge.requests]
    assert {b["model"] for b in bodies} == {"judge-model"}
    assert {(b["temperature"], b["max_tokens"], b["top_p"]) for b in bodies} == {(0.0, 200, 1.0)}


def test_answer_relevance_grades_against_the_input(judge):
    metric = answer_relevance()
    value = call(metric, inputs=["capital of France", "rivers", "Hamlet author"])
    # Without a reference the server compares the output with the input.
    assert value.scores == [5, 1, 1]
    assert value.justifications[0] == "3 of 3 input words appear in the output."
    (model,) = {r.body["model"] for r in judge.requests}
    assert model == "gpt-4o-mini"  # the default judge


def test_custom_metric_prompt_holds_examples_context_and_input(judge):
    example = EvaluationExample(
        input="What is spanrun?",
        output="A tracker for LLM work.",
        score=4,
        justification="Right but terse.",
        grading_context={"reference": "spanrun tracks LLM work as MLflow-style runs."},
    )
    metric = make_genai_metric(
        name="groundedness",
        definition="How well the output sticks to the {reference}.",
        grading_prompt="Score 1: unrelated. Score 5: fully grounded.",
        examples=[example],
        grading_context_columns=["reference"],
        aggregations=["min", "max", "median"],
        greater_is_better=True,
        parameters={"temperature": 0.2},
        metric_metadata={"team": "qa"},
    )
    value = call(metric, inputs=QUESTIONS, reference=TRUTH)
    assert value.scores == EXPECTED
    assert value.aggregate_results == {"min": 2.0, "max": 5.0, "median": 5.0}
    assert metric.key == "groundedness/v1"
    assert metric.metric_metadata == {"team": "qa"}
    assert metric.genai_metric_args["examples"] == [example]

    prompt = next(p for p in prompts_sent(judge) if ANSWERS[1] in p)
    # The row: its input, output and grading context.
    assert f"\nInput:\n{QUESTIONS[1]}\n" in prompt
    assert "key: reference\nvalue:\nThe Tiber crosses Rome" in prompt
    # The metric: definition (braces kept as written), rubric, and the example in full.
    assert "How well the output sticks to the {reference}." in prompt
    assert "Score 1: unrelated. Score 5: fully grounded." in prompt
    assert "Example Input:\nWhat is spanrun?" in prompt
    assert "Example Output:\nA tracker for LLM work." in prompt
    assert "key: reference\nvalue:\nspanrun tracks LLM work as MLflow-style runs." in prompt
    assert "Example score: 4\nExample justification: Right but terse." in prompt
    assert prompt.index("Grading rubric:") < prompt.index("Example Input:")
    assert {r.body["temperature"] for r in judge.requests} == {0.2}
    assert "max_tokens" not in judge.requests[0].body  # the user's parameters replace ours


def test_positional_arguments_as_mlflow_passes_them(judge):
    metric = answer_correctness()
    value = metric.eval_fn(series(ANSWERS), {}, series(QUESTIONS), series(TRUTH))
    assert value.scores == EXPECTED


def test_example_context_given_as_text_is_the_first_column(judge):
    example = EvaluationExample(output="x", score=1, justification="y", grading_context="ctx")
    metric = make_genai_metric(
        name="m",
        definition="d",
        grading_prompt="g",
        examples=[example],
        grading_context_columns="context",
        include_input=False,
    )
    call(metric, inputs=QUESTIONS, context=TRUTH)
    prompt = prompts_sent(judge)[0]
    assert "key: context\nvalue:\nctx" in prompt
    assert "Example Input:" not in prompt and "\nInput:\n" not in prompt


def test_from_prompt_fills_the_variables_per_row(judge):
    metric = make_genai_metric_from_prompt(
        name="politeness",
        judge_prompt='Rate {predictions} said to {inputs}. Answer like {"x": 1}.',
    )
    assert metric.key == "politeness"
    value = metric.eval_fn(predictions=series(ANSWERS), inputs=series(QUESTIONS))
    assert all(isinstance(s, int) and 1 <= s <= 5 for s in value.scores)
    prompts = sorted(prompts_sent(judge))
    expected = sorted(
        f'Rate {a} said to {q}. Answer like {{"x": 1}}.'
        for a, q in zip(ANSWERS, QUESTIONS, strict=True)
    )
    assert [p.split("\n\n")[0] for p in prompts] == expected
    assert all('{"score": ' in p for p in prompts)
    with pytest.raises(InvalidInputError, match="inputs"):
        metric.eval_fn(predictions=series(ANSWERS))


@pytest.mark.parametrize("style", ["fenced", "lines"])
def test_verdicts_in_a_code_fence_or_in_mlflow_lines_are_read(judge, style):
    metric = answer_correctness(extra_headers={FAKE_HEADER: f"judge={style}"})
    value = call(metric, inputs=QUESTIONS, targets=TRUTH)
    assert value.scores == EXPECTED
    assert value.justifications[0] == "6 of 6 reference words appear in the output."


def test_malformed_answer_gives_no_score_and_the_reason(judge, caplog):
    metric = answer_correctness(extra_headers={FAKE_HEADER: "judge=malformed"})
    with caplog.at_level(logging.WARNING):
        value = call(metric, inputs=QUESTIONS, targets=TRUTH)
    assert value.scores == [None, None, None]
    assert (
        value.justifications
        == [
            "Failed to extract score and justification. Raw output: "
            "I would rather not grade this one."
        ]
        * 3
    )
    assert value.aggregate_results == {}
    assert "gave no score for 3 of 3 rows" in caplog.text


def test_a_score_that_is_not_a_number_is_no_score(judge):
    metric = answer_correctness(extra_headers={FAKE_HEADER: "content=score: high"})
    value = call(metric, inputs=QUESTIONS, targets=TRUTH)
    assert value.scores == [None] * 3
    assert (
        value.justifications
        == ["Failed to extract score and justification. Raw output: score: high"] * 3
    )


def test_one_failed_row_does_not_fail_the_others(judge):
    # The first request fails and the server forbids retrying it (x-should-retry: false).
    metric = answer_correctness(extra_headers={FAKE_HEADER: "error=500; first=1"}, max_workers=1)
    value = call(metric, inputs=QUESTIONS, targets=TRUTH)
    assert value.scores == [None, *EXPECTED[1:]]
    assert value.justifications[0].startswith(
        "Failed to score the row: the judge call failed (InternalServerError"
    )
    assert value.aggregate_results["mean"] == pytest.approx(sum(EXPECTED[1:]) / 2)
    assert judge.received == 3


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limits_and_server_errors_are_retried(judge, status):
    header = f"error={status}; first=2; retry; retry_after_ms=5"
    metric = answer_correctness(extra_headers={FAKE_HEADER: header}, max_workers=1)
    value = call(metric, inputs=QUESTIONS, targets=TRUTH)
    assert value.scores == EXPECTED  # every row scored in the end
    # Two refused attempts, then the three rows: the client retried the first row twice.
    assert judge.received == 5
    assert [r.body["messages"][0]["content"] for r in judge.requests][:3] == [
        prompts_sent(judge)[0]
    ] * 3


def test_exhausted_retries_give_no_score_and_the_reason(judge):
    header = "error=429; first=100; retry; retry_after_ms=1"
    metric = make_genai_metric(
        name="m",
        definition="d",
        grading_prompt="g",
        extra_headers={FAKE_HEADER: header},
        max_retries=2,
        max_workers=1,
    )
    value = call(metric, inputs=QUESTIONS)
    assert value.scores == [None] * 3
    assert all("RateLimitError" in j for j in value.justifications)
    assert judge.received == 9  # 3 rows x (1 try + 2 retries)


def test_retries_back_off_exponentially_without_retry_after(judge):
    header = "error=500; first=2; retry"
    metric = make_genai_metric(
        name="m",
        definition="d",
        grading_prompt="g",
        extra_headers={FAKE_HEADER: header},
        max_workers=1,
    )
    started = time.monotonic()
    value = metric.eval_fn(predictions=series(["a"]), metrics={}, inputs=series(["q"]))
    elapsed = time.monotonic() - started
    assert value.scores[0] is not None
    # openai's backoff: 0.5 s then 1 s, each less up to 25% jitter.
    assert 0.5 * 0.75 + 1.0 * 0.75 <= elapsed < 5


def test_concurrency_is_bounded_by_max_workers(judge):
    rows = 24
    metric = answer_correctness(extra_headers={FAKE_HEADER: "delay=0.05"}, max_workers=4)
    started = time.monotonic()
    value = metric.eval_fn(
        predictions=series(["x"] * rows),
        metrics={},
        inputs=series(["q"] * rows),
        targets=series(["x"] * rows),
    )
    elapsed = time.monotonic() - started
    assert value.scores == [5] * rows
    assert judge.received == rows
    assert judge.max_in_flight == 4  # in parallel, never above the bound
    assert elapsed < rows * 0.05  # under the sequential time (x4 expected, loaded CI aside)


def test_judge_refusing_the_key_stops_the_evaluation_with_a_clear_error(judge):
    metric = answer_correctness(extra_headers={FAKE_HEADER: "error=401"}, max_workers=1)
    with pytest.raises(InvalidInputError, match=r"refused the request.*OPENAI_API_KEY"):
        call(metric, inputs=QUESTIONS, targets=TRUTH)
    assert judge.received == 1  # no row is sent after the refusal


def test_missing_api_key_is_a_clear_error(judge, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(InvalidInputError, match="OPENAI_API_KEY"):
        call(answer_correctness(), inputs=QUESTIONS, targets=TRUTH)
    assert judge.received == 0


def test_proxy_url_is_the_endpoint(judge, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    metric = answer_correctness(proxy_url=f"{judge.base_url}/chat/completions")
    assert call(metric, inputs=QUESTIONS, targets=TRUTH).scores == EXPECTED


def test_missing_grading_context_column_is_a_clear_error(judge):
    with pytest.raises(InvalidInputError, match=r"'context'.*col_mapping"):
        call(faithfulness(), inputs=QUESTIONS)
    with pytest.raises(InvalidInputError, match="rows"):
        answer_correctness().eval_fn(
            predictions=series(ANSWERS),
            metrics={},
            inputs=series(QUESTIONS),
            targets=series(TRUTH[:2]),
        )
    assert judge.received == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "anthropic:/claude"}, "Unsupported judge provider"),
        ({"model": "gpt-4o-mini"}, "Malformed judge model URI"),
        ({"version": "v2"}, "version"),
        ({"aggregations": ["mean", "mode"]}, "Invalid aggregations"),
        ({"max_workers": 0}, "max_workers"),
        (
            {
                "grading_context_columns": ["targets"],
                "examples": [EvaluationExample(output="o", score=1, justification="j")],
            },
            "grading context",
        ),
    ],
)
def test_bad_metric_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        make_genai_metric(name="m", definition="d", grading_prompt="g", **kwargs)


def test_builtin_unknown_version_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="v7"):
        relevance(metric_version="v7")


def test_the_facade_module_exports_mlflows_names():
    import spanrun.metrics.genai as genai

    assert set(genai.__all__) == {
        "EvaluationExample",
        "answer_correctness",
        "answer_relevance",
        "answer_similarity",
        "faithfulness",
        "make_genai_metric",
        "make_genai_metric_from_prompt",
        "relevance",
    }
    details = answer_correctness().metric_details
    assert details is not None and "{output}" in details and "Metric definition:" in details
    json.dumps(answer_correctness().genai_metric_args, default=str)


def test_several_input_columns_are_shown_as_json(judge):
    # evaluate() passes a DataFrame as `inputs` when the model takes several columns.
    inputs = pd.DataFrame({"question": QUESTIONS, "tone": ["formal"] * 3})
    value = answer_relevance().eval_fn(predictions=series(ANSWERS), metrics={}, inputs=inputs)
    assert len(value.scores) == 3
    prompt = next(p for p in prompts_sent(judge) if ANSWERS[0] in p)
    assert f'\nInput:\n{{"question": "{QUESTIONS[0]}", "tone": "formal"}}\n' in prompt


def test_every_argument_is_required_so_evaluate_checks_them_first():
    import inspect

    params = inspect.signature(faithfulness().eval_fn).parameters
    assert list(params) == ["predictions", "metrics", "inputs", "context"]
    assert all(p.default is inspect.Parameter.empty for p in params.values())
    with pytest.raises(InvalidInputError, match=r"needs \['metrics', 'inputs'\]"):
        faithfulness().eval_fn(predictions=series(ANSWERS), context=series(TRUTH))
