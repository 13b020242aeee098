"""Judge metrics of one evaluation run at the same time, under one evaluation-wide bound on
the judge calls in flight (the local server records the most it handled at once)."""

from __future__ import annotations

import signal
import threading
import time

import pandas as pd
import pytest

import openai
import spanrun
from spanrun.errors import InvalidInputError
from spanrun.evaluation import MAX_IN_FLIGHT_ENV, MetricValue, make_metric
from spanrun.metrics.genai import answer_correctness, answer_similarity
from spanrun.testing.openai_server import FAKE_HEADER, OpenAIServer

ROWS = 12
SLOW = {FAKE_HEADER: "delay=0.2"}  # calls overlap for sure, even on a loaded machine


def _data() -> pd.DataFrame:
    truths = [f"Topic {i} is used for data work." for i in range(ROWS)]
    answers = [t if i % 2 else "I do not know." for i, t in enumerate(truths)]
    return pd.DataFrame(
        {"inputs": [f"What is topic {i}?" for i in range(ROWS)], "truth": truths, "answer": answers}
    )


def _evaluate(metrics: list, config: dict | None = None) -> spanrun.evaluation.EvaluationResult:
    with spanrun.start_run():
        return spanrun.evaluate(
            data=_data(),
            predictions="answer",
            targets="truth",
            extra_metrics=metrics,
            evaluator_config=config,
        )


def test_judge_metrics_run_at_the_same_time(judge):
    # Each metric alone never has more than 3 calls in flight: 6 means both ran at once.
    metrics = [
        answer_correctness(extra_headers=SLOW, max_workers=3),
        answer_similarity(extra_headers=SLOW, max_workers=3),
    ]
    result = _evaluate(metrics, {"max_in_flight": 10})
    assert judge.received == 2 * ROWS
    assert judge.max_in_flight == 6
    assert result.metrics["answer_correctness/v1/mean"] == pytest.approx(3.0)


def test_one_bound_holds_the_judge_calls_of_all_metrics(judge):
    metrics = [answer_correctness(extra_headers=SLOW), answer_similarity(extra_headers=SLOW)]
    started = time.monotonic()
    _evaluate(metrics, {"max_in_flight": 5})
    elapsed = time.monotonic() - started
    assert judge.received == 2 * ROWS
    assert judge.max_in_flight == 5  # reached, never passed, though each metric could use 5
    assert elapsed >= (2 * ROWS / 5) * 0.2 * 0.9  # 24 calls of 0.2 s, 5 at a time


def test_the_environment_variable_sets_the_bound(judge, monkeypatch):
    monkeypatch.setenv(MAX_IN_FLIGHT_ENV, "3")
    _evaluate([answer_correctness(extra_headers=SLOW), answer_similarity(extra_headers=SLOW)])
    assert judge.received == 2 * ROWS
    assert judge.max_in_flight == 3


@pytest.mark.parametrize("bound", [0, -1, "many", True, 2.5])
def test_a_bad_bound_is_a_clear_error_before_any_call(judge, bound):
    with pytest.raises(InvalidInputError, match=r"max_in_flight'\] must be a positive integer"):
        _evaluate([answer_correctness()], {"max_in_flight": bound})
    assert judge.received == 0


def test_a_bad_environment_bound_is_a_clear_error(judge, monkeypatch):
    monkeypatch.setenv(MAX_IN_FLIGHT_ENV, "lots")
    with pytest.raises(InvalidInputError, match=MAX_IN_FLIGHT_ENV):
        _evaluate([answer_correctness()])
    assert judge.received == 0


def test_results_are_the_same_and_in_the_same_order_as_one_call_at_a_time(judge):
    seen: dict[str, list[str]] = {}

    def uses_judges(predictions, metrics):
        # A metric using the others waits for the judges running before it.
        seen["keys"] = list(metrics)
        score = metrics["answer_correctness/v1"].aggregate_results["mean"]
        return MetricValue(aggregate_results={"judged": score})

    def make() -> list:
        return [
            answer_correctness(),
            make_metric(eval_fn=uses_judges, greater_is_better=True, name="uses_judges"),
            answer_similarity(),
        ]

    one = _evaluate(make(), {"max_in_flight": 1})
    assert judge.max_in_flight == 1
    assert seen.pop("keys") == ["answer_correctness/v1"]
    judge.clear_requests()
    many = _evaluate(make(), {"max_in_flight": 16})
    assert judge.max_in_flight > 1
    assert seen.pop("keys") == ["answer_correctness/v1"]
    assert list(many.metrics.items()) == list(one.metrics.items())
    assert list(many.metrics)[:4] == [
        "answer_correctness/v1/mean",
        "answer_correctness/v1/variance",
        "answer_correctness/v1/p90",
        "uses_judges/judged",
    ]
    assert many.metrics["uses_judges/judged"] == pytest.approx(3.0)
    one_table, many_table = one.tables["eval_results_table"], many.tables["eval_results_table"]
    pd.testing.assert_frame_equal(many_table, one_table)
    assert many_table["answer_similarity/v1/score"].tolist() == [1, 5] * (ROWS // 2)


def test_the_server_delay_option_slows_every_answer():
    with OpenAIServer(delay=0.3) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        started = time.monotonic()
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        elapsed = time.monotonic() - started
        client.close()
    assert reply.choices[0].message.content == "Echo: hi"
    assert elapsed >= 0.3
    with pytest.raises(ValueError, match="delay"):
        OpenAIServer(delay=-1)


def test_ctrl_c_stops_the_judge_calls_not_started(judge):
    slower = {FAKE_HEADER: "delay=0.3"}
    metrics = [answer_correctness(extra_headers=slower), answer_similarity(extra_headers=slower)]
    # A real SIGINT to the main thread (as Ctrl-C): it wakes the thread waiting on the metrics.
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(0.6, signal.pthread_kill, (main, signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _evaluate(metrics, {"max_in_flight": 1})  # 24 calls of 0.3 s, one at a time: 7.2 s
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert judge.received < ROWS  # the calls not started were not sent
    assert elapsed < 2 * ROWS * 0.3 * 0.7


def test_judge_calls_are_in_flight_while_the_other_metrics_compute(judge):
    seen: dict[str, int] = {}

    def slow_builtin_like(predictions):
        time.sleep(0.5)
        seen["judge_calls"] = judge.received  # the judges started before this metric
        return MetricValue(aggregate_results={"value": 1.0})

    result = _evaluate(
        [
            make_metric(eval_fn=slow_builtin_like, greater_is_better=True, name="slow"),
            answer_correctness(extra_headers=SLOW),
        ],
        {"max_in_flight": 4},
    )
    assert seen["judge_calls"] > 0
    assert next(iter(result.metrics)) == "slow/value"  # values still in the metrics' order
    assert result.metrics["answer_correctness/v1/mean"] == pytest.approx(3.0)
