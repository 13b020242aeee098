"""The local server acting as an LLM judge: grading prompts get a deterministic verdict.

A chat request whose last user message asks for a ``score`` and a ``justification`` (the
grading prompts of ``spanrun.metrics.genai`` and of MLflow's ``mlflow.metrics.genai``) is
answered with ``{"score": N, "justification": "..."}``. The score is derived from the prompt:
the share of the reference words (the "Additional information" section: targets, context)
found in the graded output, else of the input words, mapped onto 1-5. Pure functions; no I/O.
"""

from __future__ import annotations

import json
import re

__all__ = ["is_grading_prompt", "judge_answer", "judge_score"]

_WORD = re.compile(r"[a-z0-9]+")
_KEY_LINES = re.compile(r"^(key: .*|value:)$", re.M)  # the context blocks' column labels
# Section headers shared by spanrun's and MLflow's grading prompt templates.
_INPUT = "\nInput:\n"
_OUTPUT = "\nOutput:\n"
_CONTEXT = "Additional information used by the model:"
_ENDS = ("\nMetric definition:", "\nGrading rubric:")
MALFORMED_ANSWER = "I would rather not grade this one."


def is_grading_prompt(text: str) -> bool:
    """Whether ``text`` asks for a score and a justification."""
    lowered = text.lower()
    return "score" in lowered and "justification" in lowered


def _section(text: str, start: str, ends: tuple[str, ...]) -> str | None:
    begin = text.find(start)
    if begin < 0:
        return None
    begin += len(start)
    stops = [i for i in (text.find(e, begin) for e in ends) if i >= 0]
    return text[begin : min(stops)] if stops else text[begin:]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def judge_score(prompt: str) -> tuple[int, str]:
    """The verdict for a grading prompt: (score 1-5, justification)."""
    rubric_at = min((i for i in (prompt.find(e) for e in _ENDS) if i >= 0), default=len(prompt))
    graded = prompt[:rubric_at]  # the examples come after the rubric: never graded
    output = _section(graded, _OUTPUT, (_CONTEXT,)) or ""
    reference = _section(graded, _CONTEXT, ())
    basis = "reference"
    if reference is None:
        reference = _section(graded, _INPUT, (_OUTPUT,))
        basis = "input"
    if reference is None:
        digest = sum(output.encode()) if output else sum(prompt.encode())
        score = 1 + digest % 5
        return score, f"No reference to compare with; score {score} derived from the text."
    ref_words = _words(_KEY_LINES.sub("", reference))
    found = ref_words & _words(output)
    share = len(found) / len(ref_words) if ref_words else 0.0
    score = 1 + round(4 * share)
    return score, f"{len(found)} of {len(ref_words)} {basis} words appear in the output."


def judge_answer(prompt: str, style: str | None, forced_score: str | None) -> str:
    """The judge's reply text: JSON, or per ``style`` (``malformed``, ``fenced``, ``lines``)."""
    score, justification = judge_score(prompt)
    if forced_score is not None:
        score = int(forced_score)
    if style == "malformed":
        return MALFORMED_ANSWER
    if style == "lines":  # MLflow's two-line format
        return f"score: {score}\njustification: {justification}"
    verdict = json.dumps({"score": score, "justification": justification})
    if style == "fenced":
        return f"Here is my verdict:\n```json\n{verdict}\n```\nHope it helps."
    return verdict
