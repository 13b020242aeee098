"""``spanrun.metrics``: MLflow's ``mlflow.metrics`` for ``spanrun.evaluate``.

Built-in metrics (``exact_match()``, ``token_count()``, ``ari_grade_level()``, ...), custom
metrics with ``make_metric``, and the LLM-judge metrics in ``spanrun.metrics.genai``.
"""

from __future__ import annotations

import importlib
from typing import Any

from spanrun.errors import UnsupportedError
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


# MLflow's metrics spanrun does not have (classification, regression, retrieval, BLEU): asking
# for one says so (an UnsupportedError, also an AttributeError) instead of a bare AttributeError.
_MLFLOW_ONLY = frozenset(
    {
        "bleu",
        "precision_at_k",
        "recall_at_k",
        "ndcg_at_k",
        "mae",
        "mse",
        "rmse",
        "r2_score",
        "max_error",
        "mape",
        "binary_recall",
        "binary_precision",
        "binary_f1_score",
    }
)


def __getattr__(name: str) -> Any:
    # As `mlflow.metrics.genai`: the judge metrics load on first use.
    if name == "genai":
        return importlib.import_module("spanrun.metrics.genai")
    if name in _MLFLOW_ONLY:
        raise UnsupportedError(
            f"spanrun.metrics has no {name!r} (MLflow's mlflow.metrics.{name}); write it with "
            "spanrun.metrics.make_metric"
        )
    raise AttributeError(f"module 'spanrun.metrics' has no attribute {name!r}")
