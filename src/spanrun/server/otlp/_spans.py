"""OTLP spans -> the OTel SDK's ``ReadableSpan``, the objects ``RunExporter`` maps in-process.

Each OTLP span becomes the ``ReadableSpan`` the sender's SDK held before exporting it: ids,
parent (remote or not, from the span flags), kind, status, times, attributes, events, links,
its resource (one ``Resource`` per ``ResourceSpans``) and instrumentation scope. Attribute
values become what the OTel API takes: str, bool, int, float, and tuples of them; a key-value
list (allowed by OTLP, not by the API) becomes its JSON text and bytes their base64 text.
A span the store could not hold (ids of the wrong size or all zero, times beyond int64) is
rejected alone and counted, as OTLP's partial success reports it. Requests are read as
``_wire.WireRequest`` (attributes decoded once per distinct encoding, see ``_wire``); a nested
message that does not decode refuses the request (``InvalidInputError``: a 400).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope as OtlpScope
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as OtlpResource
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as OtlpStatus
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from spanrun.errors import InvalidInputError
from spanrun.server.otlp._wire import (
    MalformedSpan,
    attribute_pairs,
    attribute_value,
    parse_nested,
    wire_request,
)

__all__ = ["SERVICE_NAME", "Converted", "ResourceOrigin", "attribute_value", "to_readable_spans"]

SERVICE_NAME = "service.name"
UNKNOWN_SERVICE = "unknown_service"  # OTel's service.name when a resource has none

_INT64 = 2**63
_MAX_PROBLEMS = 5  # reasons kept per request for the partial-success message
# OTLP SpanKind (0 unspecified, 1 internal, 2 server, ...) -> the API's (internal = 0, ...).
_KINDS = (
    SpanKind.INTERNAL,
    SpanKind.INTERNAL,
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
)
_UNSET, _OK = Status(StatusCode.UNSET), Status(StatusCode.OK)
_FLAGS = [TraceFlags(i) for i in range(256)]
# SpanFlags: bit 8 says whether bit 9 (the parent is remote) is known.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200


@dataclass
class ResourceOrigin:
    """Where one ``ResourceSpans`` came from: its resource and the sender's service name."""

    resource: Resource
    service_name: str


@dataclass
class Converted:
    """The spans of one request, and those rejected (with the first few reasons)."""

    spans: list[ReadableSpan] = field(default_factory=list)
    origins: list[ResourceOrigin] = field(default_factory=list)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def reject(self, why: str) -> None:
        self.rejected += 1
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(why)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in pairs:
        value = kv.value
        kind = value.WhichOneof("value")
        # The common scalar kinds inline: this runs for every attribute of every span.
        if kind == "string_value":
            out[kv.key] = value.string_value
        elif kind == "int_value":
            out[kv.key] = value.int_value
        elif kind == "double_value":
            out[kv.key] = value.double_value
        elif kind == "bool_value":
            out[kv.key] = value.bool_value
        elif kind is not None:
            converted = attribute_value(value)
            if converted is not None:
                out[kv.key] = converted
    return out


def _scope(scope_spans: Any) -> InstrumentationScope:
    scope = parse_nested(OtlpScope, scope_spans.scope, "instrumentation scope")
    return InstrumentationScope(
        scope.name,
        scope.version or None,
        scope_spans.schema_url or None,
        _attributes(scope.attributes) or None,
    )


def to_readable_spans(request: Message) -> Converted:
    """Every span of ``request`` (an ``ExportTraceServiceRequest`` or a ``WireRequest``) as a
    ``ReadableSpan``; the ones the store can't hold are rejected. Raises
    ``InvalidInputError`` when a nested message does not decode."""
    try:
        return _to_readable_spans(wire_request(request))
    except MalformedSpan as exc:
        raise InvalidInputError(str(exc)) from None


def _to_readable_spans(request: Any) -> Converted:
    out = Converted()
    for resource_spans in request.resource_spans:
        otlp_resource = parse_nested(OtlpResource, resource_spans.resource, "resource")
        attributes = _attributes(otlp_resource.attributes)
        resource = Resource(attributes, resource_spans.schema_url or None)
        service = attributes.get(SERVICE_NAME)
        out.origins.append(
            ResourceOrigin(resource, str(service) if service not in (None, "") else UNKNOWN_SERVICE)
        )
        for scope_spans in resource_spans.scope_spans:
            scope = _scope(scope_spans)
            _convert_spans(scope_spans.spans, resource, scope, out)
    return out


def _convert_spans(
    spans: Sequence[Any], resource: Resource, scope: InstrumentationScope, out: Converted
) -> None:
    append = out.spans.append
    for s in spans:
        trace_bytes, span_bytes, parent_bytes = s.trace_id, s.span_id, s.parent_span_id
        trace_id = int.from_bytes(trace_bytes, "big")
        span_id = int.from_bytes(span_bytes, "big")
        if len(trace_bytes) != 16 or len(span_bytes) != 8 or not trace_id or not span_id:
            out.reject(
                f"span {s.name[:80]!r}: trace_id must be 16 bytes and span_id 8, not all zero "
                f"(got {trace_bytes.hex()!r} and {span_bytes.hex()!r})"
            )
            continue
        start, end = s.start_time_unix_nano, s.end_time_unix_nano
        if start >= _INT64 or end >= _INT64:
            out.reject(f"span {s.name[:80]!r}: a time beyond int64 nanoseconds")
            continue
        flags = s.flags
        if parent_bytes:
            parent_id = int.from_bytes(parent_bytes, "big")
            if len(parent_bytes) != 8 or not parent_id:
                out.reject(f"span {s.name[:80]!r}: parent_span_id must be 8 bytes, not all zero")
                continue
            remote = bool(flags & _HAS_IS_REMOTE and flags & _IS_REMOTE)
            parent: SpanContext | None = SpanContext(trace_id, parent_id, remote)
        else:
            parent = None
        status = _UNSET
        if s.status:
            otlp_status = parse_nested(OtlpStatus, s.status, "status")
            code = otlp_status.code
            if code == 2:
                status = Status(StatusCode.ERROR, otlp_status.message or None)
            elif code == 1:
                status = _OK
        append(
            ReadableSpan(
                s.name,
                SpanContext(trace_id, span_id, False, _FLAGS[flags & 0xFF]),
                parent,
                resource,
                attribute_pairs(s.attributes),
                [_event(e) for e in s.events] if s.events else [],
                [_link(link) for link in s.links] if s.links else (),
                _KINDS[s.kind] if 0 <= s.kind < len(_KINDS) else SpanKind.INTERNAL,
                None,
                status,
                start,
                end or start,
                scope,
            )
        )


def _event(raw: bytes) -> Event:
    event = parse_nested(OtlpSpan.Event, raw, "event")
    return Event(event.name, _attributes(event.attributes), event.time_unix_nano)


def _link(raw: bytes) -> Link:
    link = parse_nested(OtlpSpan.Link, raw, "link")
    context = SpanContext(
        int.from_bytes(link.trace_id, "big"),
        int.from_bytes(link.span_id, "big"),
        True,
        _FLAGS[link.flags & 0xFF],
    )
    return Link(context, _attributes(link.attributes))
