"""The adaptive window of judge calls in flight, against the local server answering 429 above a
concurrency limit or for a share of the requests: the window shrinks, every row still gets its
score (the same as without rate limits, in the same order), and the endpoint never sees more
calls at once than the ceiling."""

from __future__ import annotations

import logging
import threading
import time

import pandas as pd
import pytest

import openai
import spanrun
from spanrun.evaluation import (
    DEFAULT_MAX_IN_FLIGHT,
    INITIAL_IN_FLIGHT,
    JudgeLimit,
    MetricValue,
    Outcome,
    current_judge_limit,
    make_metric,
)
from spanrun.evaluation.genai._retry import backoff, retry_after, server_wait, should_retry
from spanrun.metrics.genai import answer_correctness, answer_similarity
from spanrun.testing.openai_server import FAKE_HEADER, OpenAIServer

ROWS = 60


def _data() -> pd.DataFrame:
    truths = [f"Topic {i} is used for data work." for i in range(ROWS)]
    answers = [t if i % 2 else "I do not know." for i, t in enumerate(truths)]
    return pd.DataFrame(
        {"inputs": [f"What is topic {i}?" for i in range(ROWS)], "truth": truths, "answer": answers}
    )


def _evaluate(
    directives: str, config: dict | None = None
) -> tuple[spanrun.evaluation.EvaluationResult, dict[str, int]]:
    """Evaluate two judge metrics with ``directives`` on every judge call; also return what
    the evaluation's window went through (read by a metric run after the judges)."""
    seen: dict[str, int] = {}

    def window(metrics: dict[str, MetricValue]) -> MetricValue:
        limit = current_judge_limit()
        assert limit is not None
        seen.update(
            window=limit.window,
            lowest=limit.lowest,
            highest=limit.highest,
            overloads=limit.overloads,
        )
        return MetricValue(aggregate_results={"seen": float(len(metrics))})

    headers = {FAKE_HEADER: directives}
    metrics = [
        answer_correctness(extra_headers=headers),
        answer_similarity(extra_headers=headers),
        make_metric(eval_fn=window, greater_is_better=True, name="window"),
    ]
    with spanrun.start_run():
        result = spanrun.evaluate(
            data=_data(),
            predictions="answer",
            targets="truth",
            extra_metrics=metrics,
            evaluator_config=config,
        )
    return result, seen


def _scores(result: spanrun.evaluation.EvaluationResult) -> pd.DataFrame:
    table = result.tables["eval_results_table"]
    return table[[c for c in table.columns if c.endswith("/score")]]


@pytest.fixture(scope="module")
def clean_scores(judge_server: OpenAIServer) -> pd.DataFrame:
    """The scores of an evaluation the endpoint never refused."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_BASE_URL", judge_server.base_url)
        patch.setenv("OPENAI_API_KEY", "sk-judge-test")
        result, seen = _evaluate("delay=0.01")
    assert seen["overloads"] == 0
    scores = _scores(result)
    assert scores.notna().all().all()
    return scores


def test_the_window_shrinks_to_an_endpoint_concurrency_limit(judge, clean_scores, caplog):
    caplog.set_level(logging.INFO, logger="spanrun.evaluation")
    result, seen = _evaluate("busy_above=6; retry; retry_after_ms=20; delay=0.05")
    refused = judge.statuses.get(429, 0)
    assert refused > 0  # the window started above the endpoint's limit (16 > 6)
    assert seen["overloads"] == refused  # every 429 reached the window
    assert seen["lowest"] <= 6  # it went down to the endpoint's limit or below
    # Refusals stay rare once the window fits: a fixed 16 would have most calls refused.
    assert refused < 0.25 * judge.statuses[200]
    assert judge.statuses[200] == 2 * ROWS  # every row graded once, by both metrics
    pd.testing.assert_frame_equal(_scores(result), clean_scores)
    assert result.metrics["answer_correctness/v1/mean"] == pytest.approx(3.0)
    assert f"refused {refused} calls as overloaded" in caplog.text


def test_a_share_of_429s_halves_the_window_and_every_row_is_scored(judge, clean_scores):
    result, seen = _evaluate("error=429; share=0.1; retry; retry_after_ms=5; delay=0.02")
    refused = judge.statuses.get(429, 0)
    assert refused >= 2 * ROWS * 0.1  # a tenth of the calls, retries included
    assert seen["overloads"] == refused
    assert seen["lowest"] < INITIAL_IN_FLIGHT
    assert judge.statuses[200] == 2 * ROWS
    pd.testing.assert_frame_equal(_scores(result), clean_scores)


def test_the_window_grows_to_the_ceiling_and_never_above(judge, clean_scores):
    result, seen = _evaluate("delay=0.1", {"max_in_flight": 24})
    assert seen["overloads"] == 0
    assert seen["highest"] == 24  # slow start from 16 reached the ceiling
    assert judge.max_in_flight == 24  # the endpoint saw exactly that many at once, no more
    pd.testing.assert_frame_equal(_scores(result), clean_scores)


def test_the_default_ceiling_and_start():
    assert (DEFAULT_MAX_IN_FLIGHT, INITIAL_IN_FLIGHT) == (128, 16)
    limit = JudgeLimit(DEFAULT_MAX_IN_FLIGHT)
    assert (limit.window, limit.ceiling) == (16, 128)


# ------------------------------------------------------------------ the window's arithmetic


def _round_trip(limit: JudgeLimit, outcome: Outcome = Outcome.OK) -> None:
    """Fill the window, then answer every call with ``outcome``."""
    slots = [limit.acquire() for _ in range(limit.window)]
    for slot in slots:
        assert slot is not None
        limit.release(slot, outcome)


def test_slow_start_doubles_per_round_trip_up_to_the_ceiling():
    limit = JudgeLimit(100, initial=4)
    sizes = []
    for _ in range(6):
        _round_trip(limit)
        sizes.append(limit.window)
    assert sizes == [8, 16, 32, 64, 100, 100]


def test_a_burst_of_429s_halves_the_window_once_then_it_grows_by_one_per_round_trip():
    limit = JudgeLimit(128, initial=64)
    _round_trip(limit, Outcome.OVERLOADED)  # 64 refusals of calls sent under one window
    assert (limit.window, limit.overloads, limit.lowest) == (32, 64, 32)
    _round_trip(limit, Outcome.OVERLOADED)  # sent under the new window: halves again
    assert limit.window == 16
    sizes = []
    for _ in range(4):
        _round_trip(limit)
        sizes.append(limit.window)
    assert sizes == [16, 17, 18, 19]  # additive now: about one more per round trip


def test_the_window_never_goes_below_one():
    limit = JudgeLimit(8, initial=2)
    for _ in range(5):
        _round_trip(limit, Outcome.OVERLOADED)
    assert limit.window == 1
    _round_trip(limit, Outcome.FAILED)  # other failures leave it as it is
    assert limit.window == 1


def test_a_window_kept_half_empty_does_not_grow():
    limit = JudgeLimit(128, initial=16)
    for _ in range(50):
        slot = limit.acquire()  # one call at a time: the endpoint's capacity is not tested
        assert slot is not None
        limit.release(slot, Outcome.OK)
    assert limit.window == 16


def test_retry_after_holds_back_every_call_until_then():
    limit = JudgeLimit(8)
    slot = limit.acquire()
    assert slot is not None
    limit.release(slot, Outcome.OVERLOADED, retry_after=0.3)
    started = time.monotonic()
    other = threading.Thread(target=limit.acquire)
    other.start()
    other.join(5)
    assert time.monotonic() - started >= 0.29


def test_cancel_wakes_the_calls_waiting_for_a_slot():
    limit = JudgeLimit(1)
    assert limit.acquire() is not None
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(limit.acquire()))
    waiter.start()
    time.sleep(0.1)
    limit.cancel()
    waiter.join(5)
    assert got == [None]


# ------------------------------------------------------------------ the openai client's rules


def test_retry_after_headers_are_read_as_the_openai_client_reads_them():
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "soon"}) is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 28 < (retry_after({"retry-after": date}) or 0) <= 30
    assert retry_after({}) is None
    assert backoff(0, {"retry-after-ms": "250"}) == 0.25
    # A pause of more than a minute is not honoured (nor retried): it would stall every call.
    assert server_wait({"retry-after": "120"}) is None and server_wait({"retry-after": "0"}) is None
    assert 0.375 <= backoff(0) <= 0.5 and 0.75 <= backoff(1) <= 1.0 and backoff(30) <= 8.0


@pytest.mark.parametrize(
    ("status", "headers", "retried"),
    [
        (429, {}, True),
        (503, {}, True),
        (500, {}, True),
        (408, {}, True),
        (400, {}, False),
        (429, {"x-should-retry": "false"}, False),
        (400, {"x-should-retry": "true"}, True),
        (429, {"retry-after": "120"}, False),  # longer than a minute: not worth waiting
    ],
)
def test_which_answers_are_retried(status, headers, retried):
    assert should_retry(status, headers) is retried


# ------------------------------------------------------------------ the server's directives


def test_the_server_refuses_above_its_concurrency_limit(judge):
    client = openai.OpenAI(base_url=judge.base_url, api_key="k", max_retries=0)
    busy = {FAKE_HEADER: "busy_above=2; delay=0.3"}
    outcomes: list[str] = []

    def ask() -> None:
        try:
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], extra_headers=busy
            )
            outcomes.append("ok")
        except openai.RateLimitError:
            outcomes.append("429")

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.close()
    assert sorted(outcomes) == ["429", "429", "429", "ok", "ok"]
    assert judge.statuses == {200: 2, 429: 3}


def test_the_server_refuses_a_share_of_requests_evenly(judge):
    client = openai.OpenAI(base_url=judge.base_url, api_key="k", max_retries=0)
    failing = {FAKE_HEADER: "error=429; share=0.25"}
    outcomes = []
    for _ in range(8):
        try:
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], extra_headers=failing
            )
            outcomes.append(200)
        except openai.RateLimitError:
            outcomes.append(429)
    client.close()
    assert outcomes == [200, 200, 200, 429, 200, 200, 200, 429]


def test_a_server_wide_concurrency_limit_is_found_too(monkeypatch, clean_scores):
    # The limit of every request (as a real endpoint's, no directive), retryable 429s without
    # Retry-After: the judge backs off exponentially and the window settles under the limit.
    with OpenAIServer(busy_above=8, delay=0.05) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-judge-test")
        result, seen = _evaluate("", {"max_in_flight": 32})
        statuses, most = server.statuses, server.max_in_flight
    assert statuses[200] == 2 * ROWS
    assert 0 < seen["overloads"] == statuses[429]
    assert seen["lowest"] <= 8
    assert most <= 32
    pd.testing.assert_frame_equal(_scores(result), clean_scores)
    with pytest.raises(ValueError, match="busy_above"):
        OpenAIServer(busy_above=0)


def test_a_judge_span_times_the_grading_not_the_wait_for_a_slot(judge, autolog, store):
    # Two metrics, two threads each, one window of 2: rows wait in line for a slot.
    slow = {FAKE_HEADER: "delay=0.2"}
    rows = 4
    data = _data().head(rows)
    autolog.autolog()
    with spanrun.start_run() as run:
        spanrun.evaluate(
            data=data,
            predictions="answer",
            targets="truth",
            extra_metrics=[
                answer_correctness(extra_headers=slow),
                answer_similarity(extra_headers=slow),
            ],
            evaluator_config={"max_in_flight": 2},
        )
    autolog.flush()
    traces = [store.get_trace(t.trace_id) for t in store.search_traces(run_id=run.info.run_id)]
    spans = [s for t in traces for s in t.spans if s.name.startswith("judge ")]
    assert len(spans) == 2 * rows
    seconds = [(s.end_time_ns - s.start_time_ns) / 1e9 for s in spans]
    assert judge.max_in_flight == 2
    assert all(0.2 <= s < 0.35 for s in seconds), seconds  # 8 calls of 0.2 s, 2 at a time
