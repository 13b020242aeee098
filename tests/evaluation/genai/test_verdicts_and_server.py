"""Reading judge answers (pure), and the local server's judge mode and request counters."""

from __future__ import annotations

import json

import pytest

import openai
from spanrun.evaluation.genai import parse_verdict
from spanrun.testing.openai_server import FAKE_HEADER


@pytest.mark.parametrize(
    ("text", "score", "justification"),
    [
        ('{"score": 4, "justification": "good"}', 4, "good"),
        ('{"Score": "5", "JUSTIFICATION": "fine"}', 5, "fine"),
        ('{"score": 3.5, "justification": "half"}', 3.5, "half"),
        ('Sure!\n```json\n{"score": 2, "justification": "weak"}\n```\nBye', 2, "weak"),
        ('noise {"other": 1} then {"score": 1, "justification": "bad"} end', 1, "bad"),
        ("score: 4\njustification: mostly right", 4, "mostly right"),
        ("Score: 3, Justification: so-so", 3, "so-so"),
    ],
)
def test_verdicts_are_read_in_every_accepted_form(text, score, justification):
    assert parse_verdict(text) == (score, justification)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        None,
        "no verdict here",
        '{"score": true, "justification": "a bool is no score"}',
        '{"score": "high", "justification": "not a number"}',
        '{"score": NaN, "justification": "not finite"}',
        '{"score": 4}',
        "[4, 5]",
    ],
)
def test_answers_without_a_usable_score_give_none_and_the_reason(text):
    score, reason = parse_verdict(text)
    assert score is None
    assert reason.startswith("Failed to extract score and justification")


def test_a_long_bad_answer_is_quoted_shortened():
    _, reason = parse_verdict("x" * 5000)
    assert reason.endswith("...") and len(reason) < 700


def test_the_server_judges_grading_prompts_and_echoes_the_rest(judge):
    client = openai.OpenAI(base_url=judge.base_url, api_key="k", max_retries=0)
    prompt = (
        "Give a score and a justification.\n\nOutput:\nred apples\n\n"
        "Additional information used by the model:\nkey: targets\nvalue:\nred apples\n\n"
        "Metric definition:\nd"
    )

    def ask(text: str, header: str | None = None) -> str:
        reply = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": text}],
            extra_headers={FAKE_HEADER: header} if header else None,
        )
        return reply.choices[0].message.content or ""

    assert json.loads(ask(prompt)) == {
        "score": 5,
        "justification": "2 of 2 reference words appear in the output.",
    }
    assert json.loads(ask(prompt, "score=2"))["score"] == 2
    assert ask(prompt, "judge=lines").startswith("score: 5\njustification: ")
    assert ask("hello there") == "Echo: hello there"
    assert judge.received == 4
    assert judge.max_in_flight == 1
    judge.clear_requests()
    assert (judge.received, judge.max_in_flight, judge.requests) == (0, 0, [])


def test_first_k_errors_count_per_header(judge):
    client = openai.OpenAI(base_url=judge.base_url, api_key="k", max_retries=0)

    def status(header: str) -> int:
        try:
            client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={FAKE_HEADER: header},
            )
        except openai.APIStatusError as exc:
            return exc.status_code
        return 200

    assert [status("error=503; first=2") for _ in range(3)] == [503, 503, 200]
    assert status("error=429; first=1") == 429  # another header, its own count
    assert status("error=429; first=x") == 400  # a malformed directive
