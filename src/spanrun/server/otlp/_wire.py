"""OTLP trace requests parsed with their attributes, events, links and status left as bytes.

``upb`` parses a whole ``ExportTraceServiceRequest`` in C in ~2 us per LLM span, but reading
the attributes back costs a Python call per field of every ``KeyValue`` (~1.5 us per attribute,
a dozen per span: more than the rest of the conversion). ``WireRequest`` is the same message on
the wire with those fields declared ``bytes`` (a nested message and a ``bytes`` field share
protobuf's length-delimited wire type), so each attribute arrives as its encoded ``KeyValue``.
Most attributes of a sender's spans are the same bytes span after span (the operation, model,
provider, settings, server address), so :func:`attribute_pairs` decodes each distinct short
``KeyValue`` once and looks the rest up; long ones (messages, ids) are decoded each time with
the official ``KeyValue`` class. Nested messages are checked when decoded, so a malformed one
raises :class:`MalformedSpan` at conversion time (the request is refused with a 400).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = [
    "MalformedSpan",
    "WireRequest",
    "attribute_pairs",
    "attribute_value",
    "parse_nested",
    "wire_request",
]


class MalformedSpan(ValueError):
    """A nested message (attribute, event, link, status, resource, scope) did not decode."""


def _wire_messages() -> type[Message]:
    """Build the ``spanrun.otlp_wire`` messages: OTLP's, nested fields as bytes."""
    field = descriptor_pb2.FieldDescriptorProto
    one, many = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    raw, text = field.TYPE_BYTES, field.TYPE_STRING
    file = descriptor_pb2.FileDescriptorProto(
        name="spanrun/otlp_wire.proto", package="spanrun.otlp_wire", syntax="proto3"
    )
    messages: dict[str, list[tuple[str, int, int, int, str]]] = {
        # opentelemetry/proto/trace/v1/trace.proto, same names and numbers.
        "Span": [
            ("trace_id", 1, raw, one, ""),
            ("span_id", 2, raw, one, ""),
            ("trace_state", 3, text, one, ""),
            ("parent_span_id", 4, raw, one, ""),
            ("flags", 16, field.TYPE_FIXED32, one, ""),
            ("name", 5, text, one, ""),
            ("kind", 6, field.TYPE_INT32, one, ""),  # an open enum: its number
            ("start_time_unix_nano", 7, field.TYPE_FIXED64, one, ""),
            ("end_time_unix_nano", 8, field.TYPE_FIXED64, one, ""),
            ("attributes", 9, raw, many, ""),  # KeyValue
            ("dropped_attributes_count", 10, field.TYPE_UINT32, one, ""),
            ("events", 11, raw, many, ""),  # Span.Event
            ("dropped_events_count", 12, field.TYPE_UINT32, one, ""),
            ("links", 13, raw, many, ""),  # Span.Link
            ("dropped_links_count", 14, field.TYPE_UINT32, one, ""),
            ("status", 15, raw, one, ""),  # Status
        ],
        "ScopeSpans": [
            ("scope", 1, raw, one, ""),  # InstrumentationScope
            ("spans", 2, field.TYPE_MESSAGE, many, ".spanrun.otlp_wire.Span"),
            ("schema_url", 3, text, one, ""),
        ],
        "ResourceSpans": [
            ("resource", 1, raw, one, ""),  # Resource
            ("scope_spans", 2, field.TYPE_MESSAGE, many, ".spanrun.otlp_wire.ScopeSpans"),
            ("schema_url", 3, text, one, ""),
        ],
        "ExportTraceServiceRequest": [
            ("resource_spans", 1, field.TYPE_MESSAGE, many, ".spanrun.otlp_wire.ResourceSpans"),
        ],
    }
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("spanrun.otlp_wire.ExportTraceServiceRequest")
    )


#: ``ExportTraceServiceRequest`` with nested span fields as bytes (see the module doc).
WireRequest = _wire_messages()


def wire_request(request: Message) -> Any:
    """``request`` as a :data:`WireRequest` (an official ``ExportTraceServiceRequest``, as
    gRPC and the JSON mapping give it, is re-encoded; a ``WireRequest`` is returned as is)."""
    if isinstance(request, WireRequest):
        return request
    if not isinstance(request, ExportTraceServiceRequest):
        raise TypeError(f"not an OTLP trace request: {type(request).__name__}")
    return WireRequest.FromString(request.SerializeToString())


def parse_nested(cls: type[Message], data: bytes, what: str) -> Any:
    """``cls`` decoded from ``data``; :class:`MalformedSpan` when it does not decode."""
    try:
        return cls.FromString(data)
    except (DecodeError, RecursionError) as exc:
        raise MalformedSpan(f"a span's {what} is not a valid OTLP message: {exc}") from None


def attribute_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as an OTel API attribute value (None when it holds none): str,
    bool, int, float, or a tuple of them; a key-value list becomes its JSON text and bytes
    their base64 text."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        items = [attribute_value(v) for v in value.array_value.values]
        return tuple(v for v in items if v is not None)
    if kind == "kvlist_value":
        return orjson.dumps(_plain(value)).decode()
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)


def _plain(value: AnyValue) -> Any:
    """An ``AnyValue`` as JSON-ready Python (for key-value lists)."""
    kind = value.WhichOneof("value")
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind) if kind else None


# Encoded KeyValue -> (key, value). Only short ones are kept (the repeated settings; a message
# or an id is rarely seen twice), and the whole map is dropped when full: bounded, and a
# sender's usual attributes are back after a few spans.
_CACHED_BYTES = 160
_MAX_CACHED = 8192
_decoded: dict[bytes, tuple[str, Any]] = {}


def _decode_pair(raw: bytes) -> tuple[str, Any]:
    kv = parse_nested(KeyValue, raw, "attribute")
    value = kv.value
    kind = value.WhichOneof("value")
    # The common scalar kinds inline: this runs for every attribute not seen before.
    if kind == "string_value":
        pair = (kv.key, value.string_value)
    elif kind == "int_value":
        pair = (kv.key, value.int_value)
    elif kind == "double_value":
        pair = (kv.key, value.double_value)
    elif kind == "bool_value":
        pair = (kv.key, value.bool_value)
    else:
        pair = (kv.key, attribute_value(value))
    if len(raw) <= _CACHED_BYTES:
        if len(_decoded) >= _MAX_CACHED:
            _decoded.clear()
        _decoded[raw] = pair
    return pair


def attribute_pairs(encoded: Iterable[bytes]) -> dict[str, Any]:
    """Encoded ``KeyValue``s as an attributes dict (a later key wins; empty values left out)."""
    out: dict[str, Any] = {}
    get = _decoded.get
    for raw in encoded:
        pair = get(raw)
        if pair is None:
            pair = _decode_pair(raw)
        key, value = pair
        if value is not None:
            out[key] = value
    return out
