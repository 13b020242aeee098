"""spanrun's entities to and from the JSON of MLflow's REST API 2.0 and spanrun's own endpoints.

MLflow's JSON is protobuf's JSON mapping: NaN and infinities are the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"``, and 64-bit integers may come as strings; both are read. Spans and
trace infos are their dataclass fields by name (the wire contract of ``spanrun server``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from spanrun.core.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
    SpanEvent,
    SpanRecord,
    TraceInfo,
    ViewType,
)
from spanrun.errors import StoreError

__all__ = [
    "dataset_input_to_json",
    "experiment_from_json",
    "float_to_json",
    "metric_from_json",
    "metric_row_to_json",
    "metric_to_json",
    "param_to_json",
    "run_from_json",
    "run_info_from_json",
    "run_inputs_from_json",
    "span_from_json",
    "span_to_json",
    "tag_to_json",
    "tags_to_json",
    "trace_info_from_json",
    "view_type_name",
]

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def float_to_json(value: float) -> float | str:
    """A float as protobuf JSON writes it (NaN and infinities as strings)."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _float(value: Any) -> float:
    if isinstance(value, str):
        special = _SPECIAL.get(value)
        if special is not None:
            return special
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StoreError(f"The tracking server sent a bad number: {value!r:.100}") from None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StoreError(f"The tracking server sent a bad integer: {value!r:.100}") from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def metric_to_json(metric: Metric) -> dict[str, Any]:
    return metric_row_to_json((metric.key, metric.value, metric.timestamp, metric.step))


def metric_row_to_json(row: tuple[str, float, int, int]) -> dict[str, Any]:
    key, value, timestamp, step = row
    return {"key": key, "value": float_to_json(value), "timestamp": timestamp, "step": step}


def param_to_json(param: Param) -> dict[str, str]:
    return {"key": param.key, "value": str(param.value)}


def tag_to_json(tag: RunTag) -> dict[str, str]:
    return {"key": tag.key, "value": str(tag.value)}


def tags_to_json(tags: Sequence[RunTag]) -> list[dict[str, str]]:
    return [tag_to_json(t) for t in tags]


def view_type_name(view_type: ViewType) -> str:
    return ViewType(view_type).name


def _pairs(items: Any) -> dict[str, str]:
    """MLflow's ``[{"key": k, "value": v}, ...]`` as a dict (a missing value is "")."""
    return {str(i["key"]): str(i.get("value", "")) for i in items or ()}


def metric_from_json(item: Mapping[str, Any]) -> Metric:
    return Metric(
        key=str(item["key"]),
        value=_float(item.get("value", 0.0)),
        timestamp=_int(item.get("timestamp", 0)),
        step=_int(item.get("step", 0)),
    )


def experiment_from_json(item: Mapping[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(item["experiment_id"]),
        name=str(item.get("name", "")),
        artifact_location=str(item.get("artifact_location", "")),
        lifecycle_stage=str(item.get("lifecycle_stage", "active")),
        tags=_pairs(item.get("tags")),
        creation_time=_optional_int(item.get("creation_time")),
        last_update_time=_optional_int(item.get("last_update_time")),
    )


def run_info_from_json(item: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=str(item.get("run_id") or item["run_uuid"]),
        experiment_id=str(item.get("experiment_id", "")),
        run_name=str(item.get("run_name", "")),
        status=str(item.get("status", "RUNNING")),
        start_time=_optional_int(item.get("start_time")),
        end_time=_optional_int(item.get("end_time")),
        artifact_uri=str(item.get("artifact_uri", "")),
        lifecycle_stage=str(item.get("lifecycle_stage", "active")),
        user_id=str(item.get("user_id", "")),
    )


def run_from_json(item: Mapping[str, Any]) -> Run:
    """A run as ``runs/get`` and ``runs/search`` send it (metrics: the latest values)."""
    try:
        data = item.get("data") or {}
        metrics = {str(m["key"]): _float(m.get("value", 0.0)) for m in data.get("metrics") or ()}
        return Run(
            info=run_info_from_json(item["info"]),
            data=RunData(
                metrics=metrics, params=_pairs(data.get("params")), tags=_pairs(data.get("tags"))
            ),
            inputs=run_inputs_from_json(item.get("inputs") or {}),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise StoreError(
            f"The tracking server sent a malformed run ({exc!r}): {item!r:.300}"
        ) from None


def dataset_input_to_json(item: DatasetInput) -> dict[str, Any]:
    """A DatasetInput as MLflow's ``runs/log-inputs`` and ``runs/get`` carry it (schema and
    profile left out when None)."""
    dataset = {k: v for k, v in item.dataset.to_dictionary().items() if v is not None}
    return {"tags": [{"key": t.key, "value": t.value} for t in item.tags], "dataset": dataset}


def _dataset_input_from_json(item: Mapping[str, Any]) -> DatasetInput:
    d = item["dataset"]
    schema, profile = d.get("schema"), d.get("profile")
    dataset = Dataset(
        name=str(d["name"]),
        digest=str(d["digest"]),
        source_type=str(d.get("source_type", "")),
        source=str(d.get("source", "")),
        schema=None if schema is None else str(schema),
        profile=None if profile is None else str(profile),
    )
    tags = tuple(InputTag(str(t["key"]), str(t.get("value", ""))) for t in item.get("tags") or ())
    return DatasetInput(dataset, tags)


def run_inputs_from_json(item: Mapping[str, Any]) -> RunInputs:
    """A run's ``inputs`` (only its dataset inputs: spanrun keeps no logged-model inputs)."""
    return RunInputs(tuple(_dataset_input_from_json(d) for d in item.get("dataset_inputs") or ()))


def span_to_json(span: SpanRecord) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start_time_ns": span.start_time_ns,
        "end_time_ns": span.end_time_ns,
        "status_code": span.status_code,
        "status_message": span.status_message,
        "attributes": span.attributes,
        "events": [
            {"name": e.name, "timestamp_ns": e.timestamp_ns, "attributes": e.attributes}
            for e in span.events
        ],
        "resource": span.resource,
        "run_id": span.run_id,
        "experiment_id": span.experiment_id,
    }


def span_from_json(item: Mapping[str, Any]) -> SpanRecord:
    try:
        return SpanRecord(
            trace_id=str(item["trace_id"]),
            span_id=str(item["span_id"]),
            parent_span_id=item.get("parent_span_id"),
            name=str(item.get("name", "")),
            kind=str(item.get("kind", "INTERNAL")),
            start_time_ns=_int(item.get("start_time_ns", 0)),
            end_time_ns=_int(item.get("end_time_ns", 0)),
            status_code=str(item.get("status_code", "UNSET")),
            status_message=str(item.get("status_message") or ""),
            attributes=dict(item.get("attributes") or {}),
            events=tuple(
                SpanEvent(
                    name=str(e.get("name", "")),
                    timestamp_ns=_int(e.get("timestamp_ns", 0)),
                    attributes=dict(e.get("attributes") or {}),
                )
                for e in item.get("events") or ()
            ),
            resource=dict(item.get("resource") or {}),
            run_id=item.get("run_id"),
            experiment_id=item.get("experiment_id"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"The tracking server sent a malformed span ({exc!r})") from None


def trace_info_from_json(item: Mapping[str, Any]) -> TraceInfo:
    try:
        return TraceInfo(
            trace_id=str(item["trace_id"]),
            run_id=item.get("run_id"),
            experiment_id=item.get("experiment_id"),
            name=str(item.get("name", "")),
            start_time_ns=_int(item.get("start_time_ns", 0)),
            end_time_ns=_int(item.get("end_time_ns", 0)),
            status=str(item.get("status", "OK")),
            span_count=_int(item.get("span_count", 0)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"The tracking server sent a malformed trace ({exc!r})") from None
