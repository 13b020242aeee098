"""spanrun's endpoints for the reads a UI needs, each one store query (``/api/2.0/spanrun/...``):

- ``POST runs/get-many`` ``{"run_ids"}`` -> ``{"runs": [RUN, ...]}`` (in the order asked, a
  repeated id once; an unknown run is a 404)

- ``POST metrics/get-histories`` ``{"run_ids", "keys", "max_points"?}`` ->
  ``{"histories": [{"run_id", "key", "total", "metrics": [METRIC, ...]}]}`` (down-sampled
  in the database when ``max_points`` is given; an unknown run is a 404)
- ``POST runs/count`` ``{"experiment_ids", "filter"?, "run_view_type"?}`` -> ``{"count"}``
- ``POST runs/distinct-keys`` ``{"experiment_ids", "run_view_type"?}`` ->
  ``{"params": [...], "metrics": [...], "tags": [...]}``

``traces/search`` (``_spanrun_api``) takes the trace filter fields read by :func:`trace_filter`.
"""

from __future__ import annotations

from typing import Any

from spanrun.server._context import ServerContext
from spanrun.server._experiments import view_type
from spanrun.server._params import Params, to_float
from spanrun.server._routing import Handler
from spanrun.server._wire import metric_json, run_json
from spanrun.store import TraceFilter

__all__ = ["UI_QUERY_ROUTES", "trace_filter"]


def _strings(params: Params, name: str) -> list[str]:
    return params.string_list(name) or []


def _get_many(ctx: ServerContext, params: Params) -> dict[str, Any]:
    runs = ctx.store.get_runs(_strings(params, "run_ids"))
    return {"runs": [run_json(run, ctx.client_uri) for run in runs]}


def _histories(ctx: ServerContext, params: Params) -> dict[str, Any]:
    found = ctx.store.get_metric_histories(
        _strings(params, "run_ids"), _strings(params, "keys"), params.integer("max_points")
    )
    return {
        "histories": [
            {
                "run_id": h.run_id,
                "key": h.key,
                "total": h.total,
                "metrics": [metric_json(m) for m in h.points],
            }
            for h in found
        ]
    }


def _count(ctx: ServerContext, params: Params) -> dict[str, Any]:
    count = ctx.store.count_runs(
        _strings(params, "experiment_ids"),
        params.string("filter", ""),
        view_type(params, "run_view_type"),
    )
    return {"count": count}


def _distinct_keys(ctx: ServerContext, params: Params) -> dict[str, Any]:
    keys = ctx.store.distinct_keys(
        _strings(params, "experiment_ids"), view_type(params, "run_view_type")
    )
    return {"params": keys.params, "metrics": keys.metrics, "tags": keys.tags}


def _number(params: Params, name: str) -> float | None:
    value = params.raw(name)
    return None if value is None else to_float(name, value)


def trace_filter(params: Params) -> TraceFilter | None:
    """``status``, ``name``, ``min_duration_ms``, ``max_duration_ms``, ``start_from_ms``,
    ``start_to_ms`` of a trace search; None when none is given."""
    start_from = params.integer("start_from_ms")
    start_to = params.integer("start_to_ms")
    found = TraceFilter(
        status=params.optional_string("status") or None,
        name=params.optional_string("name") or None,
        min_duration_ms=_number(params, "min_duration_ms"),
        max_duration_ms=_number(params, "max_duration_ms"),
        start_from_ms=start_from,
        start_to_ms=start_to,
    )
    return None if found == TraceFilter() else found


UI_QUERY_ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("/runs/get-many", ("POST",), _get_many),
    ("/metrics/get-histories", ("POST",), _histories),
    ("/runs/count", ("POST",), _count),
    ("/runs/distinct-keys", ("POST",), _distinct_keys),
]
