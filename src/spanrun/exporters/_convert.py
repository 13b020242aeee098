"""Pure conversion of OpenTelemetry SDK spans into ``SpanRecord`` entities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from spanrun.core.entities import SpanEvent, SpanRecord
from spanrun.exporters._sdk_fast import SpanFields, attributes_dict, read_span, span_attributes

__all__ = [
    "fields_to_record",
    "hex_span_id",
    "hex_trace_id",
    "plain_attributes",
    "span_attributes",
    "span_to_record",
]


# int.to_bytes().hex() gives format(id, "032x")'s text about 4x faster (3 ids per span);
# ids wider than OTel's 128/64 bits take format()'s path.


def hex_trace_id(trace_id: int) -> str:
    try:
        return trace_id.to_bytes(16, "big").hex()
    except OverflowError:
        return format(trace_id, "032x")


def hex_span_id(span_id: int) -> str:
    try:
        return span_id.to_bytes(8, "big").hex()
    except OverflowError:
        return format(span_id, "016x")


def plain_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """OTel attribute values as JSON-ready values (sequences become lists)."""
    if not attributes:
        return {}
    # attributes_dict: the SDK's BoundedAttributes' own dict (no lock per item), else a copy.
    return {k: list(v) if type(v) is tuple else v for k, v in attributes_dict(attributes).items()}


_last_resource: tuple[object, dict[str, Any]] = (None, {})


def _resource_attributes(resource: Any) -> dict[str, Any]:
    """A provider's spans share one Resource object: convert it once, not per span."""
    global _last_resource
    cached, attrs = _last_resource
    if resource is cached:
        return attrs
    attrs = plain_attributes(resource.attributes) if resource is not None else {}
    _last_resource = (resource, attrs)
    return attrs


def span_to_record(
    span: ReadableSpan,
    run_id: str | None = None,
    experiment_id: str | None = None,
    ids: tuple[str, str, str | None] | None = None,
    attributes: dict[str, Any] | None = None,
) -> SpanRecord:
    """Convert one finished span; ``run_id``/``experiment_id`` are the run it was mapped to.

    ``ids`` (trace, span, parent hex ids) and ``attributes`` (from :func:`plain_attributes`) may
    be passed when the caller computed them already.
    """
    fields = read_span(span)
    if ids is None:
        context, parent = fields[0], fields[1]
        ids = (
            hex_trace_id(context.trace_id),
            hex_span_id(context.span_id),
            hex_span_id(parent.span_id) if parent is not None else None,
        )
    return fields_to_record(fields, ids, run_id, experiment_id, attributes)


def fields_to_record(
    fields: SpanFields,
    ids: tuple[str, str, str | None],
    run_id: str | None,
    experiment_id: str | None,
    attributes: dict[str, Any] | None = None,
) -> SpanRecord:
    """:func:`span_to_record` of a span already read with :func:`read_span` (the exporter's
    mapping loop reads each span once)."""
    _, _, name, kind, start, end, status_code, description, resource, events, own = fields
    start = start or 0
    cached, resource_attributes = _last_resource
    if resource is not cached:
        resource_attributes = _resource_attributes(resource)
    # ``SpanRecord(...)`` with all of its fields, built without its ``__init__``: SpanRecord is
    # a frozen dataclass whose ``__init__`` sets each of the 14 fields through
    # ``object.__setattr__`` (~21k instructions per span counted with cachegrind, more than the
    # rest of the conversion). Spans are converted by the thousand per batch, so the instance's
    # ``__dict__`` is set in one go instead (~6k); tests check it equals the constructor's result.
    record = _new(SpanRecord)
    _set(
        record,
        "__dict__",
        {
            "trace_id": ids[0],
            "span_id": ids[1],
            "parent_span_id": ids[2],
            "name": name,
            "kind": kind._name_,  # Enum.name is a slow descriptor
            "start_time_ns": start,
            "end_time_ns": end or start,
            "status_code": status_code._name_,
            "status_message": description or "",
            "attributes": attributes if attributes is not None else own,
            "events": tuple(
                [SpanEvent(e.name, e.timestamp, plain_attributes(e.attributes)) for e in events]
            )
            if events
            else (),
            "resource": resource_attributes,
            "run_id": run_id,
            "experiment_id": experiment_id,
        },
    )
    return record


_new = object.__new__
_set = object.__setattr__
