"""spanrun's entities in the JSON of MLflow's REST API (and of spanrun's own endpoints).

Field names are the protobuf field names of ``mlflow/protos/service.proto``; 64-bit integers are
JSON numbers (as MLflow's server writes them) and non-finite doubles the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (protobuf's JSON mapping). A run's ``data.metrics`` holds
each metric's latest value with its key only: spanrun's run summary keeps the value, not the
timestamp and step it was logged with (``metrics/get-history`` has them).

Spans and trace infos (spanrun's endpoints) are their dataclass fields by name.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from spanrun.core.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    Metric,
    Run,
    RunInfo,
    RunInputs,
    SpanEvent,
    SpanRecord,
    Trace,
    TraceInfo,
)
from spanrun.core.text import storable_text
from spanrun.errors import InvalidInputError
from spanrun.server._params import checked_text, to_int

__all__ = [
    "dataset_input_json",
    "double",
    "experiment_json",
    "file_info_json",
    "hex_id",
    "metric_json",
    "run_info_json",
    "run_inputs_json",
    "run_json",
    "span_from_json",
    "span_json",
    "trace_info_json",
    "trace_json",
]

#: Turns a stored artifact URI into the one clients see (``mlflow-artifacts:/...``).
UriView = Callable[[str], str]


def double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _pairs(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def experiment_json(experiment: Experiment, uri: UriView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": uri(experiment.artifact_location),
        "lifecycle_stage": experiment.lifecycle_stage,
        "tags": _pairs(experiment.tags),
    }
    if experiment.last_update_time is not None:
        body["last_update_time"] = experiment.last_update_time
    if experiment.creation_time is not None:
        body["creation_time"] = experiment.creation_time
    return body


def run_info_json(info: RunInfo, uri: UriView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status,
        "artifact_uri": uri(info.artifact_uri),
        "lifecycle_stage": info.lifecycle_stage,
    }
    if info.start_time is not None:
        body["start_time"] = info.start_time
    if info.end_time is not None:
        body["end_time"] = info.end_time
    return body


def run_json(run: Run, uri: UriView) -> dict[str, Any]:
    data = run.data
    return {
        "info": run_info_json(run.info, uri),
        "data": {
            "metrics": [{"key": k, "value": double(v)} for k, v in data.metrics.items()],
            "params": _pairs(data.params),
            "tags": _pairs(data.tags),
        },
        "inputs": run_inputs_json(run.inputs),
    }


def dataset_input_json(item: DatasetInput) -> dict[str, Any]:
    """MLflow's DatasetInput: ``{"tags": [{"key", "value"}], "dataset": {...}}`` (a dataset's
    schema and profile are left out when it has none, as protobuf leaves unset fields)."""
    dataset = {k: v for k, v in item.dataset.to_dictionary().items() if v is not None}
    return {"tags": [{"key": t.key, "value": t.value} for t in item.tags], "dataset": dataset}


def run_inputs_json(inputs: RunInputs) -> dict[str, Any]:
    if not inputs.dataset_inputs:
        return {}  # protobuf's JSON leaves out empty repeated fields
    return {"dataset_inputs": [dataset_input_json(d) for d in inputs.dataset_inputs]}


def metric_json(metric: Metric, run_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": metric.key,
        "value": double(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }
    if run_id is not None:
        body["run_id"] = run_id
    return body


def file_info_json(info: FileInfo, path: str) -> dict[str, Any]:
    body: dict[str, Any] = {"path": path, "is_dir": info.is_dir}
    if not info.is_dir and info.file_size is not None:
        body["file_size"] = info.file_size
    return body


# -- spanrun's own endpoints ---------------------------------------------------------------
def span_json(span: SpanRecord) -> dict[str, Any]:
    body = dataclasses.asdict(span)
    body["events"] = [dataclasses.asdict(e) for e in span.events]
    return body


def trace_info_json(info: TraceInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def trace_json(trace: Trace) -> dict[str, Any]:
    return {"info": trace_info_json(trace.info), "spans": [span_json(s) for s in trace.spans]}


_SPAN_KINDS = ("INTERNAL", "CLIENT", "SERVER", "PRODUCER", "CONSUMER")
_STATUS_CODES = ("UNSET", "OK", "ERROR")


def _string(where: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{where} must be a string, got {type(value).__name__}")
    return value


def _hex_id(where: str, value: Any, length: int, *, optional: bool = False) -> str | None:
    text = _string(where, value, optional=optional)
    if text is None:
        return None
    if len(text) != length or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInputError(f"{where} must be {length} lowercase hex digits, got {text!r}")
    return text


def _storable(value: Any) -> Any:
    """``value`` with every string (keys too) storable: NULs and lone surrogates replaced, as
    the stores do for span text (span data is kept, never refused for its text)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {storable_text(str(k)): _storable(v) for k, v in value.items()}
    return value


def _dict(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where} must be an object, got {type(value).__name__}")
    stored: dict[str, Any] = _storable(value)
    return stored


def _id(where: str, value: Any) -> str | None:
    text = _string(where, value, optional=True)
    return None if text is None else checked_text(where, text)


def hex_id(where: str, value: Any, length: int) -> str:
    """A trace (32) or span (16) id: hex digits, lowercased."""
    text = _string(where, value) or ""
    lowered = text.lower()
    if len(lowered) != length or any(c not in "0123456789abcdef" for c in lowered):
        raise InvalidInputError(f"{where} must be {length} hex digits, got {text!r}")
    return lowered


def _event_from_json(where: str, value: Any) -> SpanEvent:
    event = _dict(where, value)
    return SpanEvent(
        name=storable_text(_string(f"{where}.name", event.get("name")) or ""),
        timestamp_ns=to_int(f"{where}.timestamp_ns", event.get("timestamp_ns")),
        attributes=_dict(f"{where}.attributes", event.get("attributes")),
    )


def span_from_json(where: str, value: Any) -> SpanRecord:
    """A SpanRecord from its JSON; InvalidInputError naming the bad field."""
    span = _dict(where, value)
    unknown = set(span) - {f.name for f in dataclasses.fields(SpanRecord)}
    if unknown:
        raise InvalidInputError(f"{where} has unknown fields: {sorted(unknown)}")
    kind = _string(f"{where}.kind", span.get("kind", "INTERNAL"))
    if kind not in _SPAN_KINDS:
        raise InvalidInputError(f"{where}.kind must be one of {_SPAN_KINDS}, got {kind!r}")
    status = _string(f"{where}.status_code", span.get("status_code", "UNSET"))
    if status not in _STATUS_CODES:
        raise InvalidInputError(
            f"{where}.status_code must be one of {_STATUS_CODES}, got {status!r}"
        )
    events = span.get("events") or []
    if not isinstance(events, list):
        raise InvalidInputError(f"{where}.events must be a list")
    return SpanRecord(
        trace_id=_hex_id(f"{where}.trace_id", span.get("trace_id"), 32) or "",
        span_id=_hex_id(f"{where}.span_id", span.get("span_id"), 16) or "",
        parent_span_id=_hex_id(
            f"{where}.parent_span_id", span.get("parent_span_id"), 16, optional=True
        ),
        name=storable_text(_string(f"{where}.name", span.get("name", "")) or ""),
        kind=kind,
        start_time_ns=to_int(f"{where}.start_time_ns", span.get("start_time_ns")),
        end_time_ns=to_int(f"{where}.end_time_ns", span.get("end_time_ns")),
        status_code=status,
        status_message=storable_text(
            _string(f"{where}.status_message", span.get("status_message", "")) or ""
        ),
        attributes=_dict(f"{where}.attributes", span.get("attributes")),
        events=tuple(_event_from_json(f"{where}.events[{i}]", e) for i, e in enumerate(events)),
        resource=_dict(f"{where}.resource", span.get("resource")),
        run_id=_id(f"{where}.run_id", span.get("run_id")),
        experiment_id=_id(f"{where}.experiment_id", span.get("experiment_id")),
    )
