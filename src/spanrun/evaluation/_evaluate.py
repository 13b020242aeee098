"""``evaluate()``: run a model over a dataset, score the outputs, log metrics and a results table
into a run (MLflow's ``mlflow.evaluate`` with its default evaluator)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd

from spanrun.errors import InvalidInputError
from spanrun.evaluation._builtin import builtin_metrics
from spanrun.evaluation._data import as_table, column_of, one_row, split_outputs
from spanrun.evaluation._judge_limit import judge_limit, max_in_flight
from spanrun.evaluation._metric import EvaluationMetric, MetricValue, standard_aggregations
from spanrun.evaluation._models import Predictor, resolve_model
from spanrun.evaluation._results import (
    EVAL_TABLE,
    EvaluationArtifact,
    EvaluationResult,
    aggregates,
    log_custom_artifacts,
    log_genai_metric_definitions,
    prefixed,
    results_table,
)
from spanrun.evaluation._rows import RowsInterrupted, run_rows
from spanrun.evaluation._scoring import ScoringData, check_metric_inputs, score
from spanrun.tracking.fluent import tracker

__all__ = ["EVAL_TABLE", "EvaluationArtifact", "EvaluationResult", "evaluate"]

_log = logging.getLogger("spanrun.evaluation")


def _predict(
    predictor: Predictor, inputs: pd.DataFrame
) -> tuple[Any, list[float] | None, list[int] | None]:
    """Outputs, per-row seconds (per-row models) and, after Ctrl-C, the rows done."""
    if predictor.whole is not None:
        return predictor.whole(inputs.copy()), None, None
    assert predictor.per_row is not None
    row_fn = predictor.per_row(inputs.copy())
    if predictor.max_workers == 1:
        single = row_fn
        row_fn = lambda i: one_row(single(i))  # noqa: E731
    try:
        done = run_rows(
            row_fn, len(inputs), max_workers=predictor.max_workers, desc="spanrun.evaluate"
        )
    except RowsInterrupted as stop:
        kept = sorted(stop.done)
        _log.warning(
            "evaluate: interrupted after %d of %d rows; scoring and logging those rows",
            len(kept),
            stop.total,
        )
        return (
            [stop.done[i][0] for i in kept],
            [stop.done[i][1] for i in kept],
            kept,
        )
    return [v for v, _ in done], [s for _, s in done], None


def _check_options(
    model_type: str | None,
    evaluators: Any,
    env_manager: str,
    extra_metrics: Sequence[Any] | None,
    evaluator_config: Any,
) -> tuple[list[EvaluationMetric], dict[str, Any]]:
    if evaluators not in (None, "default", ["default"]):
        raise InvalidInputError("spanrun.evaluate has the default evaluator only (evaluators=None)")
    if env_manager != "local":
        raise InvalidInputError(
            "spanrun.evaluate runs models in this process only (env_manager='local')"
        )
    if evaluator_config is not None and not isinstance(evaluator_config, Mapping):
        raise InvalidInputError("evaluator_config must be a dict")
    config = dict(evaluator_config or {})
    col_mapping = config.get("col_mapping", {})
    if not isinstance(col_mapping, Mapping):
        raise InvalidInputError("evaluator_config['col_mapping'] must be a dict")
    max_in_flight(config)  # a bad bound is an error before any model call
    extra = list(extra_metrics or [])
    bad = [m for m in extra if not isinstance(m, EvaluationMetric)]
    if bad:
        raise InvalidInputError(
            "extra_metrics must be EvaluationMetric objects (spanrun.metrics.make_metric, "
            f"spanrun.metrics.*()); got {[type(m).__name__ for m in bad]}"
        )
    if model_type is None and not extra:
        raise InvalidInputError("Give model_type or extra_metrics (there is nothing to compute)")
    return extra, config


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    model_type: str | None = None,
    targets: str | None = None,
    predictions: str | None = None,
    dataset_path: str | None = None,
    feature_names: Sequence[str] | None = None,
    evaluators: Any = None,
    evaluator_config: Mapping[str, Any] | None = None,
    extra_metrics: Sequence[EvaluationMetric] | None = None,
    custom_artifacts: Sequence[Callable[..., Any]] | None = None,
    env_manager: str = "local",
    model_config: Mapping[str, Any] | None = None,
    inference_params: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` (or the ``predictions`` column) on ``data``; see spanrun.evaluate."""
    extra, config = _check_options(model_type, evaluators, env_manager, extra_metrics,
                                   evaluator_config)  # fmt: skip
    col_mapping = dict(config.get("col_mapping") or {})
    prefix = config.get("metric_prefix") or ""
    prefix = prefix if isinstance(prefix, str) else ""
    frame = as_table(data)
    if isinstance(targets, str):
        targets = col_mapping.get(targets, targets)
    if isinstance(predictions, str):
        predictions = col_mapping.get(predictions, predictions)
    target_col = column_of(frame, targets, "targets")
    if model is None:
        if predictions is None:
            raise InvalidInputError(
                "Give a model to evaluate, or predictions='<column>' naming the outputs in data"
            )
        prediction_col = column_of(frame, predictions, "predictions")
    else:
        prediction_col = None
    if feature_names is not None:
        features = [str(f) for f in feature_names]
        for f in features:
            column_of(frame, f, "feature_names")
    else:
        features = [c for c in frame.columns if c not in (target_col, prediction_col)]

    wants_latency = any(m.name == "latency" for m in extra)
    extra = [m for m in extra if m.name != "latency"]
    builtins = builtin_metrics(model_type)
    metrics = [*builtins, *extra]
    src = ScoringData(frame, features, target_col, predictions, col_mapping, config)
    check_metric_inputs(metrics, src)  # before any model call
    predictor = None
    if model is not None:
        predictor = resolve_model(
            model,
            model_config=model_config,
            inference_params=inference_params,
            row_timing=wants_latency,
        )

    with _evaluation_run() as run_id:
        result, interrupted = _run(
            predictor, src, metrics, len(builtins), wants_latency, prefix, custom_artifacts, run_id
        )
        if interrupted:  # the rows done are logged; a run started here ends KILLED
            raise KeyboardInterrupt(
                f"evaluate: interrupted; the {len(src.data)} rows done were scored and logged "
                f"to run {run_id}"
            )
    return result


@contextmanager
def _evaluation_run() -> Iterator[str]:
    """The active run's id, or a new run's, ended after (KILLED on Ctrl-C, FAILED on error)."""
    active = tracker.active_run()
    if active is not None:
        yield active.info.run_id
        return
    with tracker.start_run() as run:
        yield run.info.run_id


def _run(
    predictor: Predictor | None,
    src: ScoringData,
    metrics: list[EvaluationMetric],
    builtin_count: int,
    wants_latency: bool,
    prefix: str,
    custom_artifacts: Sequence[Callable[..., Any]] | None,
    run_id: str,
) -> tuple[EvaluationResult, bool]:
    rows = len(src.data)
    latencies: list[float] | None = None
    interrupted = False
    if predictor is None:
        assert src.predictions_name is not None
        outputs: Any = src.data[src.predictions_name].tolist()
        if wants_latency:
            _log.warning("latency is 0 for every row: no model was given")
            latencies = [0.0] * rows
    else:
        _log.info("spanrun.evaluate: computing the outputs of %s", predictor.name)
        outputs, seconds, kept = _predict(predictor, src.data[src.features])
        if wants_latency:
            latencies = seconds
        if kept is not None:
            interrupted = True
            src.data = src.data.iloc[kept].reset_index(drop=True)
            rows = len(kept)
    y_pred, other, _ = split_outputs(outputs, src.predictions_name, rows)
    src.predictions, src.other_outputs = y_pred, other

    with judge_limit(max_in_flight(src.config)) as limit:
        values = score(metrics, src, builtin_count) if rows else {}
    if limit.overloads:
        _log.info(
            "spanrun.evaluate: the judge endpoint refused %d calls as overloaded (429/503); "
            "judge calls in flight went down to %d (ceiling %d)",
            limit.overloads,
            limit.lowest,
            limit.ceiling,
        )
    if latencies is not None:
        # MLflow's MetricValue gives numeric scores the standard aggregations.
        values["latency"] = MetricValue(
            scores=list(latencies), aggregate_results=standard_aggregations(latencies)
        )
    values = prefixed(values, prefix)
    totals = aggregates(values)
    if totals:
        items = list(totals.items())
        for start in range(0, len(items), 1000):
            tracker.log_metrics(dict(items[start : start + 1000]), step=0, run_id=run_id)

    artifacts = log_genai_metric_definitions(metrics, run_id)
    tables: dict[str, pd.DataFrame] = {}
    # MLflow names the output column after the predictions only when there are targets.
    out_col = (src.predictions_name or "outputs") if src.targets is not None else "outputs"
    if any(v.scores is not None or v.justifications is not None for v in values.values()):
        table = results_table(src, values, out_col, prefix)
        table_file = f"{prefix}{EVAL_TABLE}"
        tracker.log_table(table, table_file, run_id=run_id)
        artifacts["eval_results_table"] = EvaluationArtifact(
            tracker.client().get_artifact_uri(run_id).rstrip("/") + "/" + table_file
        )
        tables["eval_results_table"] = table
    if custom_artifacts:
        eval_df = pd.DataFrame({"prediction": y_pred})
        if src.targets is not None:
            eval_df["target"] = src.data[src.targets].to_numpy()
        artifacts.update(log_custom_artifacts(custom_artifacts, eval_df, totals, run_id))
    return EvaluationResult(totals, artifacts, run_id, tables), interrupted
