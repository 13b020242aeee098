"""``spanrun.metrics``: MLflow's ``mlflow.metrics`` for ``spanrun.evaluate``.

Built-in metrics (``exact_match()``, ``token_count()``, ``ari_grade_level()``, ...), custom
metrics with ``make_metric``, and the LLM-judge metrics in ``spanrun.metrics.genai``.
"""

from __future__ import annotations

import importlib
from typing import Any

from spanrun.evaluation import (
    EvaluationMetric,
    MetricValue,
    ari_grade_level,
    exact_match,
    flesch_kincaid_grade_level,
    latency,
    make_metric,
    rouge1,
    rouge2,
    rougeL,
    rougeLsum,
    token_count,
    toxicity,
)

__all__ = [
    "EvaluationMetric",
    "MetricValue",
    "ari_grade_level",
    "exact_match",
    "flesch_kincaid_grade_level",
    "genai",
    "latency",
    "make_metric",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "token_count",
    "toxicity",
]


def __getattr__(name: str) -> Any:
    # As `mlflow.metrics.genai`: the judge metrics load on first use.
    if name == "genai":
        return importlib.import_module("spanrun.metrics.genai")
    raise AttributeError(f"module 'spanrun.metrics' has no attribute {name!r}")
