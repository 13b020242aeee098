"""The built-in LLM-judge metrics (MLflow's v1): ``answer_similarity``, ``answer_correctness``,
``faithfulness``, ``answer_relevance``, ``relevance``."""

from __future__ import annotations

from typing import Any

from spanrun.errors import InvalidInputError
from spanrun.evaluation import EvaluationMetric
from spanrun.evaluation.genai._definitions import BUILTINS
from spanrun.evaluation.genai._example import EvaluationExample
from spanrun.evaluation.genai._make import DEFAULT_JUDGE, JUDGE_PARAMETERS, make_genai_metric

__all__ = [
    "answer_correctness",
    "answer_relevance",
    "answer_similarity",
    "faithfulness",
    "relevance",
]


def _builtin(
    name: str,
    model: str | None,
    metric_version: str | None,
    examples: list[EvaluationExample] | None,
    metric_metadata: dict[str, Any] | None,
    parameters: dict[str, Any] | None,
    extra_headers: dict[str, str] | None,
    proxy_url: str | None,
    max_workers: int | None,
) -> EvaluationMetric:
    version = metric_version or "v1"
    if version != "v1":
        raise InvalidInputError(f"Failed to find {name} metric for version {version!r} (v1 only)")
    spec = BUILTINS[name]
    return make_genai_metric(
        name=spec.name,
        definition=spec.definition,
        grading_prompt=spec.rubric,
        examples=spec.examples if examples is None else examples,
        version=version,
        model=model or DEFAULT_JUDGE,
        grading_context_columns=list(spec.context_columns),
        include_input=spec.include_input,
        parameters=parameters or JUDGE_PARAMETERS,
        aggregations=["mean", "variance", "p90"],
        greater_is_better=True,
        max_workers=max_workers,
        metric_metadata=metric_metadata,
        extra_headers=extra_headers,
        proxy_url=proxy_url,
    )


def answer_similarity(
    model: str | None = None,
    metric_version: str | None = None,
    examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
    proxy_url: str | None = None,
    max_workers: int | None = None,
) -> EvaluationMetric:
    """How semantically similar the output is to the ``targets`` (needs ``targets``)."""
    return _builtin(
        "answer_similarity",
        model,
        metric_version,
        examples,
        metric_metadata,
        parameters,
        extra_headers,
        proxy_url,
        max_workers,
    )


def answer_correctness(
    model: str | None = None,
    metric_version: str | None = None,
    examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
    proxy_url: str | None = None,
    max_workers: int | None = None,
) -> EvaluationMetric:
    """How accurate the output is against the ``targets``, given the input (needs ``targets``)."""
    return _builtin(
        "answer_correctness",
        model,
        metric_version,
        examples,
        metric_metadata,
        parameters,
        extra_headers,
        proxy_url,
        max_workers,
    )


def faithfulness(
    model: str | None = None,
    metric_version: str | None = None,
    examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
    proxy_url: str | None = None,
    max_workers: int | None = None,
) -> EvaluationMetric:
    """How much of the output the ``context`` column supports (needs ``context``)."""
    return _builtin(
        "faithfulness",
        model,
        metric_version,
        examples,
        metric_metadata,
        parameters,
        extra_headers,
        proxy_url,
        max_workers,
    )


def answer_relevance(
    model: str | None = None,
    metric_version: str | None = None,
    examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
    proxy_url: str | None = None,
    max_workers: int | None = None,
) -> EvaluationMetric:
    """How directly and completely the output answers the input."""
    return _builtin(
        "answer_relevance",
        model,
        metric_version,
        examples,
        metric_metadata,
        parameters,
        extra_headers,
        proxy_url,
        max_workers,
    )


def relevance(
    model: str | None = None,
    metric_version: str | None = None,
    examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
    proxy_url: str | None = None,
    max_workers: int | None = None,
) -> EvaluationMetric:
    """How well the output answers the input using the ``context`` column (needs ``context``)."""
    return _builtin(
        "relevance",
        model,
        metric_version,
        examples,
        metric_metadata,
        parameters,
        extra_headers,
        proxy_url,
        max_workers,
    )
