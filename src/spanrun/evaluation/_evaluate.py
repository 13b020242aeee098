"""``evaluate()``: run a model over a dataset, score the outputs, log metrics and a results table
into a run (MLflow's ``mlflow.evaluate`` with its default evaluator)."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spanrun.errors import InvalidInputError
from spanrun.evaluation._builtin import builtin_metrics
from spanrun.evaluation._metric import EvaluationMetric, MetricValue, standard_aggregations
from spanrun.evaluation._models import Predictor, output_value, resolve_model
from spanrun.evaluation._rows import RowsInterrupted, run_rows
from spanrun.evaluation._scoring import ScoringData, check_metric_inputs, score
from spanrun.tracking.fluent import tracker

__all__ = ["EVAL_TABLE", "EvaluationArtifact", "EvaluationResult", "evaluate"]

_log = logging.getLogger("spanrun.evaluation")

EVAL_TABLE = "eval_results_table.json"
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


def _frame(data: Any) -> pd.DataFrame:
    if data is None:
        raise InvalidInputError("The data argument cannot be None")
    frame: pd.DataFrame
    if isinstance(data, pd.DataFrame):
        frame = data.copy()
    elif isinstance(data, Mapping) and all(
        isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in data.values()
    ):
        frame = pd.DataFrame({str(k): list(v) for k, v in data.items()})
    elif (
        isinstance(data, Sequence)
        and not isinstance(data, str)
        and data
        and all(isinstance(r, Mapping) for r in data)
    ):
        frame = pd.DataFrame([dict(r) for r in data])
    else:
        raise InvalidInputError(
            "data must be a pandas DataFrame, a list of dicts (one per row) or a dict of "
            f"columns; got {type(data).__name__}"
        )
    if len(frame) == 0:
        raise InvalidInputError("data has no rows")
    frame.columns = [str(c) for c in frame.columns]
    frame = frame.reset_index(drop=True)
    return frame


def _column(frame: pd.DataFrame, name: Any, what: str) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidInputError(f"{what} must name a column of data, got {type(name).__name__}")
    if name not in frame.columns:
        raise InvalidInputError(
            f"{what}={name!r} is not a column of data (columns: {list(frame.columns)})"
        )
    return name


def _one_row(value: Any) -> Any:
    """A function model's answer for a one-row frame, as that row's output."""
    if isinstance(value, pd.DataFrame):
        return value.iloc[0].to_dict() if len(value.columns) > 1 else value.iloc[0, 0]
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)) and len(value) == 1:
        return value[0] if not isinstance(value, pd.Series) else value.iloc[0]
    return value


def _split_outputs(
    outputs: Any, name: str | None, rows: int
) -> tuple[pd.Series, pd.DataFrame | None, str | None]:
    """The prediction column and the model's other output columns (MLflow's rules)."""
    if isinstance(outputs, list) and outputs and all(isinstance(o, Mapping) for o in outputs):
        outputs = pd.DataFrame([dict(o) for o in outputs])
    elif isinstance(outputs, Mapping):
        outputs = pd.DataFrame({str(k): list(v) for k, v in outputs.items()})
    other = None
    if isinstance(outputs, pd.DataFrame):
        if name is not None and name in outputs.columns:
            y_pred, other = outputs[name], outputs.drop(columns=[name])
        elif len(outputs.columns) == 1:
            name = str(outputs.columns[0])
            y_pred = outputs.iloc[:, 0]
        else:
            raise InvalidInputError(
                "The model returned several columns "
                f"{list(map(str, outputs.columns))}: name the output column with predictions="
            )
    elif isinstance(outputs, (list, tuple, np.ndarray, pd.Series)):
        y_pred = pd.Series(list(outputs), dtype=object)
    else:
        raise InvalidInputError(
            "The model must return a list, a Series, an array or a DataFrame with one column "
            f"per output; got {type(outputs).__name__}"
        )
    if len(y_pred) != rows:
        raise InvalidInputError(f"The model returned {len(y_pred)} outputs for {rows} rows")
    y_pred = pd.Series([output_value(v) for v in y_pred], dtype=object)
    if other is not None:
        other = other.reset_index(drop=True)
    return y_pred, other, name


def _predict(
    predictor: Predictor, inputs: pd.DataFrame, latency: bool
) -> tuple[Any, list[float] | None, list[int] | None]:
    """Outputs, per-row seconds (per-row models) and, after Ctrl-C, the rows done."""
    if predictor.whole is not None:
        return predictor.whole(inputs.copy()), None, None
    assert predictor.per_row is not None
    row_fn = predictor.per_row(inputs.copy())
    if predictor.max_workers == 1:
        single = row_fn
        row_fn = lambda i: _one_row(single(i))  # noqa: E731
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


def _aggregates(values: Mapping[str, MetricValue]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        for agg, number in (value.aggregate_results or {}).items():
            if number is None:
                continue
            out[key if agg == key.split("/")[0] else f"{key}/{agg}"] = float(number)
    return out


def _prefixed(values: dict[str, MetricValue], prefix: str) -> dict[str, MetricValue]:
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


def _table(
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


def _custom_artifacts(
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
    frame = _frame(data)
    if isinstance(targets, str):
        targets = col_mapping.get(targets, targets)
    if isinstance(predictions, str):
        predictions = col_mapping.get(predictions, predictions)
    target_col = _column(frame, targets, "targets")
    if model is None:
        if predictions is None:
            raise InvalidInputError(
                "Give a model to evaluate, or predictions='<column>' naming the outputs in data"
            )
        prediction_col = _column(frame, predictions, "predictions")
    else:
        prediction_col = None
    if feature_names is not None:
        features = [str(f) for f in feature_names]
        for f in features:
            _column(frame, f, "feature_names")
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

    active = tracker.active_run()
    run_cm = tracker.start_run() if active is None else None
    run = run_cm or active
    assert run is not None
    try:
        result, interrupted = _run(
            predictor, src, metrics, len(builtins), wants_latency, prefix, custom_artifacts,
            run.info.run_id,
        )  # fmt: skip
    except BaseException as exc:
        if run_cm is not None:
            run_cm.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if interrupted:
        if run_cm is not None:
            run_cm.__exit__(KeyboardInterrupt, None, None)
        raise KeyboardInterrupt(
            f"evaluate: interrupted; the {len(src.data)} rows done were scored and logged to "
            f"run {run.info.run_id}"
        )
    if run_cm is not None:
        run_cm.__exit__(None, None, None)
    return result


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
        outputs, seconds, kept = _predict(predictor, src.data[src.features], wants_latency)
        if wants_latency:
            latencies = seconds
        if kept is not None:
            interrupted = True
            src.data = src.data.iloc[kept].reset_index(drop=True)
            rows = len(kept)
    y_pred, other, _ = _split_outputs(outputs, src.predictions_name, rows)
    src.predictions, src.other_outputs = y_pred, other

    values = score(metrics, src, builtin_count) if rows else {}
    if latencies is not None:
        # MLflow's MetricValue gives numeric scores the standard aggregations.
        values["latency"] = MetricValue(
            scores=list(latencies), aggregate_results=standard_aggregations(latencies)
        )
    values = _prefixed(values, prefix)
    aggregates = _aggregates(values)
    if aggregates:
        items = list(aggregates.items())
        for start in range(0, len(items), 1000):
            tracker.log_metrics(dict(items[start : start + 1000]), step=0, run_id=run_id)

    artifacts: dict[str, EvaluationArtifact] = {}
    tables: dict[str, pd.DataFrame] = {}
    # MLflow names the output column after the predictions only when there are targets.
    out_col = (src.predictions_name or "outputs") if src.targets is not None else "outputs"
    if any(v.scores is not None or v.justifications is not None for v in values.values()):
        table = _table(src, values, out_col, prefix)
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
        artifacts.update(_custom_artifacts(custom_artifacts, eval_df, aggregates, run_id))
    return EvaluationResult(aggregates, artifacts, run_id, tables), interrupted
