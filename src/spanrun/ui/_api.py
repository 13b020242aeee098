"""JSON endpoints the pages' scripts fetch: down-sampled metric histories for the charts."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spanrun.errors import InvalidFilterError, InvalidInputError
from spanrun.store import Store
from spanrun.ui._http import int_param
from spanrun.ui._queries import COUNT_CAP, RunCount, count_runs
from spanrun.ui._render import SECURITY_HEADERS

__all__ = [
    "MAX_CHART_KEYS",
    "MAX_CHART_POINTS",
    "MAX_COMPARED_RUNS",
    "metric_history",
    "run_count",
]

MAX_CHART_POINTS = 2000
MAX_CHART_KEYS = 50
MAX_COMPARED_RUNS = 100


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def metric_history(store: Store, request: Request) -> Response:
    """``?run=<id>&run=...&key=<metric>&key=...&points=<n>``: each run's history of each metric,
    down-sampled to at most ``points`` points (min and max of each bucket kept), as
    ``{"charts": [{"key", "series": [{"run_id", "total", "step", "time", "value"}]}]}`` in
    the order of the keys. One request (one store read) draws every chart in view."""
    run_ids = request.query_params.getlist("run")
    keys = list(dict.fromkeys(request.query_params.getlist("key")))
    if not run_ids or not keys:
        raise InvalidInputError("Give at least one 'run' and a metric 'key'")
    if len(run_ids) > MAX_COMPARED_RUNS:
        raise InvalidInputError(f"At most {MAX_COMPARED_RUNS} runs at once")
    if len(keys) > MAX_CHART_KEYS:
        raise InvalidInputError(f"At most {MAX_CHART_KEYS} metric keys at once")
    points = int_param(request, "points", 1000, 2, MAX_CHART_POINTS)
    # One query for all the runs and keys, down-sampled in the database (an unknown run: 404).
    series: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
    for history in store.get_metric_histories(run_ids, keys, points):
        series[history.key].append(
            {
                "run_id": history.run_id,
                "total": history.total,
                "step": [m.step for m in history.points],
                "time": [m.timestamp / 1000 for m in history.points],
                "value": [_finite(m.value) for m in history.points],
            }
        )
    charts = [{"key": key, "series": found} for key, found in series.items()]
    return JSONResponse({"charts": charts}, headers=SECURITY_HEADERS)


class _CountCache:
    """Recent counts for ``COUNT_TTL_S``: paging through a 10,000-run experiment does not count
    it again on every page (a count may lag new runs by that long)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str, str, int], tuple[float, RunCount]] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, experiment_id: str, filter_string: str, cap: int) -> RunCount:
        key = (id(store), experiment_id, filter_string, cap)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < COUNT_TTL_S:
            return hit[1]
        counted = count_runs(store, [experiment_id], filter_string, cap)
        with self._lock:
            if len(self._entries) >= 256:
                self._entries.clear()
            self._entries[key] = (now, counted)
        return counted


COUNT_TTL_S = 10.0
_counts = _CountCache()


def run_count(store: Store, request: Request) -> Response:
    """``?experiment_id=<id>&filter=<search>&cap=<n>``: how many runs match (shown as at
    least ``cap`` above it, then ``capped`` is true) and the newest one's start time (the
    store's ``count_runs``: one query). Fetched after the page is shown."""
    experiment_id = request.query_params.get("experiment_id")
    if not experiment_id:
        raise InvalidInputError("Give an 'experiment_id'")
    cap = int_param(request, "cap", COUNT_CAP, 1, COUNT_CAP)
    filter_string = request.query_params.get("filter", "")
    try:
        counted = _counts.get(store, experiment_id, filter_string, cap)
    except InvalidFilterError as exc:
        return JSONResponse({"error": str(exc)}, headers=SECURITY_HEADERS)
    return JSONResponse(
        {"count": counted.count, "capped": counted.capped, "last": counted.last_start_time},
        headers=SECURITY_HEADERS,
    )
