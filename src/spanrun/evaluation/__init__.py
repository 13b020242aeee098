"""Evaluation: ``spanrun.evaluate`` and its metrics (MLflow's ``mlflow.evaluate`` semantics)."""

from spanrun.evaluation._metric import (
    EvaluationMetric,
    MetricValue,
    make_metric,
    standard_aggregations,
)

__all__ = ["EvaluationMetric", "MetricValue", "make_metric", "standard_aggregations"]
