"""spanrun's own endpoints (``/api/2.0/spanrun/...``): server info, spans, export batches and
traces, for spanrun's REST store and web UI. Same error body as MLflow's endpoints.

- ``GET  server-info`` -> ``{"server": "spanrun", "version", "otlp_traces_path"}``
- ``POST spans/log`` ``{"spans": [SPAN, ...]}`` -> ``{}``
- ``POST runs/log-export-batch`` ``{"runs": {run_id: {"metrics": [[key, value, ts, step]],
  "params": {}, "tags": {}, "calls": [[step, ts, v1, ...]]}}, "spans": [...]}`` ->
  ``{"skipped": {run_id: reason}}``
- ``GET  traces/get?trace_id=`` -> ``{"trace": {"info": TRACE_INFO, "spans": [...]}}``
- ``POST traces/search`` ``{"experiment_ids", "run_id", "max_results", "order_by",
  "page_token"}`` and the filter fields of ``_ui_queries.trace_filter`` ->
  ``{"traces": [...], "next_page_token"?}``
"""

from __future__ import annotations

from typing import Any

import spanrun
from spanrun.core.entities import SpanRecord
from spanrun.core.text import storable_text
from spanrun.errors import InvalidInputError
from spanrun.server._context import ServerContext
from spanrun.server._experiments import max_results
from spanrun.server._params import Params, checked_text, to_float, to_int
from spanrun.server._routing import Handler
from spanrun.server._ui_queries import UI_QUERY_ROUTES, trace_filter
from spanrun.server._wire import hex_id, span_from_json, trace_info_json, trace_json

__all__ = ["OTLP_TRACES_PATH", "SPANRUN_PREFIX", "SPANRUN_ROUTES"]

SPANRUN_PREFIX = "/api/2.0/spanrun"
OTLP_TRACES_PATH = "/v1/traces"
MAX_SPANS_PER_REQUEST = 10_000


def _server_info(ctx: ServerContext, params: Params) -> dict[str, Any]:
    return {
        "server": "spanrun",
        "version": spanrun.__version__,
        "otlp_traces_path": OTLP_TRACES_PATH,
    }


def _spans(params: Params) -> list[SpanRecord]:
    raw = params.raw("spans")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInputError("'spans' must be a list of spans")
    if len(raw) > MAX_SPANS_PER_REQUEST:
        raise InvalidInputError(
            f"At most {MAX_SPANS_PER_REQUEST} spans per request, got {len(raw)}"
        )
    return [span_from_json(f"spans[{i}]", span) for i, span in enumerate(raw)]


def _log_spans(ctx: ServerContext, params: Params) -> dict[str, Any]:
    spans = _spans(params)
    if spans:
        ctx.store.log_spans(spans)
    return {}


def _string_map(where: str, value: Any) -> dict[str, str]:
    """Keys must be storable as they are; values are kept with bad characters replaced."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInputError(f"{where} must be an object of strings")
    return {checked_text(f"{where} key", k): storable_text(v) for k, v in value.items()}


def _rows(where: str, value: Any) -> list[list[Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise InvalidInputError(f"{where} must be a list of lists")
    return value


def _metric_row(where: str, row: list[Any]) -> tuple[str, float, int, int]:
    if len(row) != 4 or not isinstance(row[0], str):
        raise InvalidInputError(f"{where} must be [key, value, timestamp_ms, step]")
    return (
        checked_text(f"{where}[0]", row[0]),
        to_float(f"{where}[1]", row[1]),
        to_int(f"{where}[2]", row[2]),
        to_int(f"{where}[3]", row[3]),
    )


def _call_row(where: str, row: list[Any]) -> tuple[Any, ...]:
    if len(row) < 2:
        raise InvalidInputError(f"{where} must be [step, timestamp_ms, values...]")
    values = [None if v is None else to_float(f"{where}[{i}]", v) for i, v in enumerate(row[2:], 2)]
    return (to_int(f"{where}[0]", row[0]), to_int(f"{where}[1]", row[1]), *values)


def _log_export_batch(ctx: ServerContext, params: Params) -> dict[str, Any]:
    runs_raw = params.raw("runs")
    if runs_raw is None:
        runs_raw = {}
    if not isinstance(runs_raw, dict):
        raise InvalidInputError("'runs' must be an object keyed by run id")
    runs: dict[str, Any] = {}
    for run_id, batch in runs_raw.items():
        where = f"runs[{run_id!r}]"
        checked_text(where, run_id)
        if not isinstance(batch, dict):
            raise InvalidInputError(f"{where} must be an object")
        metrics = [
            _metric_row(f"{where}.metrics[{i}]", row)
            for i, row in enumerate(_rows(f"{where}.metrics", batch.get("metrics")))
        ]
        run_params = _string_map(f"{where}.params", batch.get("params"))
        tags = _string_map(f"{where}.tags", batch.get("tags"))
        calls = [
            _call_row(f"{where}.calls[{i}]", row)
            for i, row in enumerate(_rows(f"{where}.calls", batch.get("calls")))
        ]
        runs[run_id] = (metrics, run_params, tags, calls) if calls else (metrics, run_params, tags)
    skipped = ctx.store.log_export_batch(runs, _spans(params))
    return {"skipped": skipped}


def _get_trace(ctx: ServerContext, params: Params) -> dict[str, Any]:
    trace_id = hex_id("trace_id", params.required("trace_id"), 32)
    return {"trace": trace_json(ctx.store.get_trace(trace_id))}


def _search_traces(ctx: ServerContext, params: Params) -> dict[str, Any]:
    found = ctx.store.search_traces(
        experiment_ids=params.string_list("experiment_ids"),
        run_id=params.optional_string("run_id") or None,
        max_results=max_results(params, 100),
        order_by=params.string_list("order_by") or None,
        page_token=params.optional_string("page_token") or None,
        trace_filter=trace_filter(params),
    )
    body: dict[str, Any] = {"traces": [trace_info_json(t) for t in found]}
    if found.token:
        body["next_page_token"] = found.token
    return body


SPANRUN_ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("/server-info", ("GET",), _server_info),
    ("/spans/log", ("POST",), _log_spans),
    ("/runs/log-export-batch", ("POST",), _log_export_batch),
    ("/traces/get", ("GET",), _get_trace),
    ("/traces/search", ("GET", "POST"), _search_traces),
    *UI_QUERY_ROUTES,
]
