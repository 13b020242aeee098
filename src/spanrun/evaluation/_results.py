"""What an evaluation gives and logs: aggregate metrics (MLflow's key names), the results table,
custom artifacts, and the :class:`EvaluationResult`."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from spanrun.evaluation._metric import EvaluationMetric, MetricValue, standard_aggregations
from spanrun.evaluation._scoring import ScoringData
from spanrun.tracking.fluent import tracker

__all__ = [
    "EVAL_TABLE",
    "GENAI_METRICS_TABLE",
    "EvaluationArtifact",
    "EvaluationResult",
    "aggregates",
    "log_custom_artifacts",
    "log_genai_metric_definitions",
    "prefixed",
    "results_table",
]

_log = logging.getLogger("spanrun.evaluation")

EVAL_TABLE = "eval_results_table.json"
GENAI_METRICS_TABLE = "genai_custom_metrics.json"
_PLAIN_COLUMNS = ("token_count", "latency")  # table columns without "/score", as MLflow's


@dataclass(frozen=True)
class EvaluationArtifact:
    """An artifact an evaluation logged (``uri``: where it is)."""

    uri: str


@dataclass
class EvaluationResult:
    """What ``evaluate`` returns: aggregate ``metrics`` (``ari_grade_level/v1/mean``, ...),
    ``artifacts`` by name, the ``run_id`` and ``tables`` (``eval_results_table``: this
    evaluation's rows, inputs, outputs, targets, per-row scores and justifications)."""

    metrics: dict[str, float]
    artifacts: dict[str, EvaluationArtifact] = field(default_factory=dict)
    run_id: str | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def aggregates(values: Mapping[str, MetricValue]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        for agg, number in (value.aggregate_results or {}).items():
            if number is None:
                continue
            out[key if agg == key.split("/")[0] else f"{key}/{agg}"] = float(number)
    return out


def prefixed(values: dict[str, MetricValue], prefix: str) -> dict[str, MetricValue]:
    """MLflow's ``metric_prefix``: on the metric keys and the aggregate names. A metric with no
    aggregates gets the standard ones over its numeric scores (MLflow rebuilds the MetricValue,
    and its constructor adds them), so ``token_count`` then has ``/mean`` too."""
    if not prefix:
        return values
    out = {}
    for key, value in values.items():
        aggregates = (
            {f"{prefix}{a}": n for a, n in value.aggregate_results.items()}
            if value.aggregate_results
            else None
        )
        scores = value.scores
        if (
            aggregates is None
            and scores
            and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores)
        ):
            aggregates = standard_aggregations(scores)
        out[f"{prefix}{key}"] = MetricValue(scores, value.justifications, aggregates)
    return out


def results_table(
    src: ScoringData,
    values: Mapping[str, MetricValue],
    output_name: str,
    prefix: str,
) -> pd.DataFrame:
    table: pd.DataFrame = src.data[src.features].copy()
    assert src.predictions is not None
    if src.targets is not None:
        table[src.targets] = src.data[src.targets].to_numpy()
    table[output_name] = src.predictions.to_numpy()
    if src.other_outputs is not None:
        for column in sorted(src.used_outputs):
            table[column] = src.other_outputs[column].to_numpy()
    for key, value in values.items():
        if value.scores:
            plain = key[len(prefix) :] in _PLAIN_COLUMNS
            table[key if plain else f"{key}/score"] = value.scores
        if value.justifications:
            table[f"{key}/justification"] = value.justifications
    return table


def log_custom_artifacts(
    functions: Sequence[Callable[..., Any]],
    eval_df: pd.DataFrame,
    metrics: Mapping[str, float],
    run_id: str,
) -> dict[str, EvaluationArtifact]:
    """MLflow's custom artifact functions ``fn(eval_df, metrics, artifacts_dir) -> {name:
    object}``: a path to a file, JSON-able data, a DataFrame (CSV) or a matplotlib figure."""
    logged: dict[str, EvaluationArtifact] = {}
    for fn in functions:
        with tempfile.TemporaryDirectory(prefix="spanrun-artifacts-") as tmp:
            produced = fn(eval_df.copy(), dict(metrics), tmp)
            if not isinstance(produced, Mapping):
                _log.warning("Custom artifact function %r returned no dict; nothing logged", fn)
                continue
            for name, obj in produced.items():
                if isinstance(obj, (str, os.PathLike)) and os.path.isfile(obj):
                    tracker.log_artifact(obj, run_id=run_id)
                    file = os.path.basename(os.fspath(obj))
                elif isinstance(obj, pd.DataFrame):
                    file = f"{name}.csv"
                    path = os.path.join(tmp, file)
                    obj.to_csv(path, index=False)
                    tracker.log_artifact(path, run_id=run_id)
                elif hasattr(obj, "savefig"):
                    file = f"{name}.png"
                    path = os.path.join(tmp, file)
                    obj.savefig(path)
                    tracker.log_artifact(path, run_id=run_id)
                else:
                    file = f"{name}.json"
                    tracker.log_dict(obj, file, run_id=run_id)
                logged[str(name)] = EvaluationArtifact(tracker.client().get_artifact_uri(run_id)
                                                       + "/" + file)  # fmt: skip
    return logged


def log_genai_metric_definitions(
    metrics: Sequence[EvaluationMetric], run_id: str
) -> dict[str, EvaluationArtifact]:
    """MLflow's ``genai_custom_metrics.json``: the definition (``genai_metric_args``) of each
    judge metric made with ``make_genai_metric``, so the metric can be rebuilt later."""
    defined = [m.genai_metric_args for m in metrics if m.genai_metric_args is not None]
    if not defined:
        return {}
    table = {
        "name": [args.get("name") for args in defined],
        "version": [args.get("version", "") for args in defined],
        "metric_args": defined,
    }
    tracker.log_table(table, GENAI_METRICS_TABLE, run_id=run_id)
    uri = tracker.client().get_artifact_uri(run_id).rstrip("/") + "/" + GENAI_METRICS_TABLE
    return {"genai_custom_metrics": EvaluationArtifact(uri)}
