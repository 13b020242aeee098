"""Spans as an OTLP/JSON export request, for MLflow 3's ``POST /v1/traces`` route.

MLflow's route takes OTLP/HTTP in protobuf or JSON (hex ids, as the OTLP spec writes them) and
needs the experiment in the ``x-mlflow-experiment-id`` header (a run in ``x-mlflow-run-id``
links the traces to it), so spans are sent grouped by their experiment and run. JSON keeps this
free of a protobuf dependency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from spanrun.core.entities import SpanRecord

__all__ = ["EXPERIMENT_HEADER", "OTLP_TRACES_PATH", "RUN_HEADER", "by_experiment_and_run", "encode"]

OTLP_TRACES_PATH = "/v1/traces"
EXPERIMENT_HEADER = "x-mlflow-experiment-id"
RUN_HEADER = "x-mlflow-run-id"
_DEFAULT_EXPERIMENT = "0"

_KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


def by_experiment_and_run(
    spans: Sequence[SpanRecord],
) -> dict[tuple[str, str | None], list[SpanRecord]]:
    groups: dict[tuple[str, str | None], list[SpanRecord]] = {}
    for span in spans:
        key = (span.experiment_id or _DEFAULT_EXPERIMENT, span.run_id)
        groups.setdefault(key, []).append(span)
    return groups


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"stringValue": str(value)}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": _attributes(value)}}
    if value is None:
        return {}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": str(k), "value": _any_value(v)} for k, v in attributes.items()]


def _span(span: SpanRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": _KINDS.get(span.kind, 0),
        "startTimeUnixNano": str(span.start_time_ns),
        "endTimeUnixNano": str(span.end_time_ns),
        "attributes": _attributes(span.attributes),
        "events": [
            {
                "timeUnixNano": str(e.timestamp_ns),
                "name": e.name,
                "attributes": _attributes(e.attributes),
            }
            for e in span.events
        ],
        "status": {"code": _STATUS.get(span.status_code, 0), "message": span.status_message},
    }
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id
    return out


def encode(spans: Sequence[SpanRecord]) -> bytes:
    """An ``ExportTraceServiceRequest`` in OTLP/JSON: one resource entry per distinct resource."""
    by_resource: dict[bytes, tuple[Mapping[str, Any], list[dict[str, Any]]]] = {}
    for span in spans:
        key = orjson.dumps(span.resource, option=orjson.OPT_SORT_KEYS, default=str)
        entry = by_resource.get(key)
        if entry is None:
            entry = by_resource[key] = (span.resource, [])
        entry[1].append(_span(span))
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource)},
                "scopeSpans": [{"scope": {"name": "spanrun"}, "spans": encoded}],
            }
            for resource, encoded in by_resource.values()
        ]
    }
    return orjson.dumps(request, default=str)
