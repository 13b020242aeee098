"""MLflow's endpoints for what a run holds: metrics, params, tags, batches, metric history.

``runs/log-inputs`` stores dataset inputs (MLflow's ``mlflow.log_input``); model inputs are
refused (spanrun keeps no logged models). ``logged-models/search`` answers that there are none;
MLflow 3's client asks it when listing a run's artifacts in a folder.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from spanrun.core.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from spanrun.errors import InvalidInputError
from spanrun.server._context import ServerContext
from spanrun.server._params import Params, key_values, to_float, to_int
from spanrun.server._routing import Handler
from spanrun.server._wire import metric_json

__all__ = ["RUN_DATA_ROUTES"]

MAX_RUNS_PER_BULK_REQUEST = 100
MAX_RESULTS_PER_RUN = 2500


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _metric(prefix: str, item: dict[str, Any]) -> Metric:
    """A metric from ``{"key", "value", "timestamp", "step"}`` (named ``<prefix>key``...)."""
    key = item.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"Missing value for required parameter '{prefix}key'.")
    if item.get("value") is None:
        raise InvalidInputError(f"Missing value for required parameter '{prefix}value'.")
    timestamp = item.get("timestamp")
    step = item.get("step")
    return Metric(
        key,
        to_float(f"{prefix}value", item["value"]),
        _now_ms() if timestamp is None else to_int(f"{prefix}timestamp", timestamp),
        0 if step is None else to_int(f"{prefix}step", step),
    )


def _log_metric(ctx: ServerContext, params: Params) -> dict[str, Any]:
    run_id = params.run_id()
    metric = _metric("", {k: params.raw(k) for k in ("key", "value", "timestamp", "step")})
    ctx.client.log_metric(
        run_id, metric.key, metric.value, metric.timestamp, metric.step, synchronous=True
    )
    return {}


def _log_param(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.log_param(
        params.run_id(), params.required("key"), params.string("value", ""), synchronous=True
    )
    return {}


def _set_tag(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.set_tag(
        params.run_id(), params.required("key"), params.string("value", ""), synchronous=True
    )
    return {}


def _delete_tag(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.delete_tag(params.run_id(), params.required("key"))
    return {}


def _log_batch(ctx: ServerContext, params: Params) -> dict[str, Any]:
    run_id = params.run_id()
    metrics = [_metric(f"metrics[{i}].", m) for i, m in enumerate(params.objects("metrics"))]
    batch_params = [Param(k, v) for k, v in key_values("params", params.objects("params"))]
    tags = [RunTag(k, v) for k, v in key_values("tags", params.objects("tags"))]
    ctx.client.log_batch(run_id, metrics, batch_params, tags, synchronous=True)
    return {}


_DATASET_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")


def _dataset_input(prefix: str, item: dict[str, Any]) -> DatasetInput:
    """A DatasetInput from MLflow's JSON (the client then checks lengths and characters)."""
    dataset = item.get("dataset")
    if not isinstance(dataset, dict):
        raise InvalidInputError(f"Missing value for required parameter '{prefix}dataset'.")
    fields: dict[str, str | None] = {}
    for i, name in enumerate(_DATASET_FIELDS):
        value = dataset.get(name)
        if value is None and i < 4:  # name, digest, source_type, source are required
            raise InvalidInputError(
                f"Missing value for required parameter '{prefix}dataset.{name}'."
            )
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(
                f"Invalid value {value!r:.80} for parameter '{prefix}dataset.{name}': "
                "it must be a string"
            )
        fields[name] = value
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
        raise InvalidInputError(f"Invalid value {tags!r:.80} for parameter '{prefix}tags'")
    return DatasetInput(
        Dataset(**fields),  # type: ignore[arg-type]  # the required ones are str (above)
        tuple(InputTag(k, v) for k, v in key_values(f"{prefix}tags", tags)),
    )


def _log_inputs(ctx: ServerContext, params: Params) -> dict[str, Any]:
    run_id = params.run_id()
    items = params.objects("datasets")
    if params.objects("models"):
        raise InvalidInputError("Model inputs are not supported: spanrun keeps no logged models")
    inputs = [_dataset_input(f"datasets[{i}].", item) for i, item in enumerate(items)]
    ctx.client.log_inputs(run_id, inputs)
    return {}


def _search_logged_models(ctx: ServerContext, params: Params) -> dict[str, Any]:
    params.string_list("experiment_ids")  # type-checked; there are no models to find
    return {"models": []}


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    if not token.isascii() or not token.isdigit() or len(token) > 18:
        raise InvalidInputError(f"Invalid page token {token!r}")
    return int(token)


def _metric_history(ctx: ServerContext, params: Params) -> dict[str, Any]:
    run_id = params.run_id()
    history = ctx.client.get_metric_history(run_id, params.required("metric_key"))
    limit = params.integer("max_results")
    offset = _page_offset(params.optional_string("page_token"))
    if limit is not None and limit <= 0:
        raise InvalidInputError(
            f"Invalid value {limit} for parameter 'max_results': it must be a positive integer"
        )
    page = history[offset:] if limit is None else history[offset : offset + limit]
    body: dict[str, Any] = {"metrics": [metric_json(m) for m in page]}
    if limit is not None and offset + limit < len(history):
        body["next_page_token"] = str(offset + limit)
    return body


def _sampled_steps(steps: list[int], start: int, end: int, limit: int) -> set[int]:
    """At most ``limit`` (+1, the last) of the sorted distinct ``steps`` in [start, end]."""
    first = bisect.bisect_left(steps, start)
    last = bisect.bisect_right(steps, end)
    if last - first <= limit:
        return set(steps[first:last])
    interval = (last - first) / limit
    return {steps[first + int(i * interval)] for i in range(limit)} | {steps[last - 1]}


def _evenly_spaced(total: int, count: int) -> list[int]:
    """At most ``count`` indices into ``total`` items, spread evenly, first and last kept."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [total - 1]
    spacing = (total - 1) / (count - 1)
    return sorted({round(i * spacing) for i in range(count)})


def _history_bulk_interval(ctx: ServerContext, params: Params) -> dict[str, Any]:
    """MLflow's sampling: up to ``max_results`` steps of the range, spread evenly over the steps
    any of the runs logged, plus each run's first and last step in the range; per run at most
    that many values (evenly spread when a step holds many)."""
    run_ids = params.string_list("run_ids") or []
    if not run_ids:
        raise InvalidInputError("Missing value for required parameter 'run_ids'.")
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise InvalidInputError(
            f"GetMetricHistoryBulkInterval request must specify at most "
            f"{MAX_RUNS_PER_BULK_REQUEST} run_ids. Received {len(run_ids)} run_ids."
        )
    key = params.required("metric_key")
    limit = params.integer("max_results", MAX_RESULTS_PER_RUN)
    if limit is None or not 1 <= limit <= MAX_RESULTS_PER_RUN:
        raise InvalidInputError(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}.")
    start, end = params.integer("start_step"), params.integer("end_step")
    if (start is None) != (end is None):
        raise InvalidInputError(
            "If either start step or end step are specified, both must be specified."
        )
    histories = {run_id: ctx.client.get_metric_history(run_id, key) for run_id in run_ids}
    all_steps = sorted({m.step for history in histories.values() for m in history})
    if start is None or end is None:
        start, end = 0, (all_steps[-1] if all_steps else 0)
    if start > end:
        raise InvalidInputError(
            f"end_step must be greater than start_step. Found start_step={start} and "
            f"end_step={end}."
        )
    keep = _sampled_steps(all_steps, start, end, limit)
    for history in histories.values():
        own = [m.step for m in history if start <= m.step <= end]
        if own:
            keep |= {min(own), max(own)}
    per_run = max(limit, len(keep))
    metrics: list[dict[str, Any]] = []
    for run_id in run_ids:
        chosen = sorted(
            (m for m in histories[run_id] if m.step in keep), key=lambda m: (m.step, m.timestamp)
        )
        metrics.extend(metric_json(chosen[i], run_id) for i in _evenly_spaced(len(chosen), per_run))
    return {"metrics": metrics}


RUN_DATA_ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("/runs/log-metric", ("POST",), _log_metric),
    ("/runs/log-parameter", ("POST",), _log_param),
    ("/runs/set-tag", ("POST",), _set_tag),
    ("/runs/delete-tag", ("POST",), _delete_tag),
    ("/runs/log-batch", ("POST",), _log_batch),
    ("/runs/log-inputs", ("POST",), _log_inputs),
    ("/logged-models/search", ("POST",), _search_logged_models),
    ("/metrics/get-history", ("GET",), _metric_history),
    ("/metrics/get-history-bulk-interval", ("GET",), _history_bulk_interval),
]
