"""``spanrun.metrics.genai``: the LLM-judge metrics under MLflow's module name
(``mlflow.metrics.genai``); see :mod:`spanrun.evaluation.genai`."""

from spanrun.evaluation.genai import (
    EvaluationExample,
    answer_correctness,
    answer_relevance,
    answer_similarity,
    faithfulness,
    make_genai_metric,
    make_genai_metric_from_prompt,
    relevance,
)

__all__ = [
    "EvaluationExample",
    "answer_correctness",
    "answer_relevance",
    "answer_similarity",
    "faithfulness",
    "make_genai_metric",
    "make_genai_metric_from_prompt",
    "relevance",
]
