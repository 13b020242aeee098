"""The metric contract of :func:`spanrun.evaluate`, as MLflow's ``mlflow.metrics`` defines it.

A metric is a named function over the evaluated rows. ``evaluate`` calls ``eval_fn`` with keyword
arguments chosen by its parameter names: ``predictions`` (the outputs), ``targets``, ``inputs``
(the model's input column), ``metrics`` (the ``MetricValue`` of metrics computed before it), and
any other name that is a column of the data (or mapped to one by
``evaluator_config["col_mapping"]``).
Row-aligned arguments are ``pandas.Series``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spanrun.errors import InvalidInputError

__all__ = ["EvaluationMetric", "MetricValue", "make_metric", "standard_aggregations"]


@dataclass
class MetricValue:
    """What a metric gives: per-row ``scores`` (``None`` for a row it could not score), per-row
    ``justifications`` (judge metrics) and ``aggregate_results`` (``{"mean": ..., ...}``)."""

    scores: list[float | None] | None = None
    justifications: list[str | None] | None = None
    aggregate_results: dict[str, float] | None = None


@dataclass(frozen=True)
class EvaluationMetric:
    """A named, versioned metric; ``evaluate`` logs its aggregates as ``name/version/agg``."""

    eval_fn: Callable[..., MetricValue | float | None]
    name: str
    greater_is_better: bool
    long_name: str | None = None
    version: str | None = None
    metric_details: str | None = None
    metric_metadata: dict[str, Any] | None = None
    genai_metric_args: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """``name/version`` (or ``name``): the prefix of the run metrics and table columns."""
        return f"{self.name}/{self.version}" if self.version else self.name

    def __str__(self) -> str:
        return f"EvaluationMetric(name={self.name}, greater_is_better={self.greater_is_better})"


def make_metric(
    *,
    eval_fn: Callable[..., MetricValue | float | None],
    greater_is_better: bool,
    name: str | None = None,
    long_name: str | None = None,
    version: str | None = None,
    metric_details: str | None = None,
    metric_metadata: dict[str, Any] | None = None,
    genai_metric_args: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """Make a custom metric as ``mlflow.metrics.make_metric`` does (name: the function's)."""
    metric_name = name or getattr(eval_fn, "__name__", None)
    if not metric_name or metric_name == "<lambda>":
        raise InvalidInputError("make_metric: give the metric a name (name=...)")
    return EvaluationMetric(
        eval_fn=eval_fn,
        name=metric_name,
        greater_is_better=greater_is_better,
        long_name=long_name,
        version=version,
        metric_details=metric_details,
        metric_metadata=metric_metadata,
        genai_metric_args=genai_metric_args,
    )


def standard_aggregations(scores: Sequence[float | None]) -> dict[str, float]:
    """MLflow's ``mean``, ``variance`` (population) and ``p90`` (linear) over the rows that have a
    score; empty when none has one."""
    values = np.array([s for s in scores if s is not None], dtype=float)
    if values.size == 0:
        return {}
    return {
        "mean": float(np.mean(values)),
        "variance": float(np.var(values)),
        "p90": float(np.percentile(values, 90)),
    }
