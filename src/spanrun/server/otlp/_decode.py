"""OTLP/HTTP request bodies: content type, gzip (bounded), protobuf or OTLP's JSON mapping.

OTLP/JSON is protobuf's JSON mapping with one exception: trace and span ids are hex strings,
not base64 (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding). Ids are
rewritten to base64 before ``json_format`` parses the message; int64 fields may be strings or
numbers and enums their integer values, as ``json_format`` accepts. Unknown fields are ignored,
as the spec asks of receivers.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, Literal

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanrun.server.otlp._wire import WireRequest

__all__ = [
    "Encoding",
    "OtlpRequestError",
    "decode_request",
    "decompressed",
    "encoding_of",
]

Encoding = Literal["protobuf", "json"]

_CONTENT_TYPES: dict[str, Encoding] = {
    "application/x-protobuf": "protobuf",
    "application/protobuf": "protobuf",
    "application/json": "json",
}
# Span fields holding ids, in OTLP/JSON (lowerCamelCase) and protobuf (snake_case) spelling.
_SPAN_IDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_LINK_IDS = ("traceId", "spanId", "trace_id", "span_id")


class OtlpRequestError(Exception):
    """A request the receiver refuses: ``status`` is the HTTP status, ``message`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def encoding_of(content_type: str | None) -> Encoding:
    """The body's encoding from its ``Content-Type``; 415 for anything else."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    encoding = _CONTENT_TYPES.get(media)
    if encoding is None:
        raise OtlpRequestError(
            415,
            f"unsupported Content-Type {media or '(none)'!r}: OTLP/HTTP takes "
            "application/x-protobuf or application/json",
        )
    return encoding


def decompressed(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body without its ``Content-Encoding`` (gzip or none), at most ``max_bytes`` long.

    The decompressed size is bounded while decompressing (a gzip bomb stops at the limit).
    """
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in ("gzip", "x-gzip"):
        raise OtlpRequestError(
            415, f"unsupported Content-Encoding {coding!r}: OTLP/HTTP takes gzip or none"
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header and trailer
    try:
        out = inflater.decompress(body, max_bytes + 1)
        if len(out) > max_bytes:
            raise OtlpRequestError(
                413, f"the decompressed body is larger than the limit of {max_bytes} bytes"
            )
        if not inflater.eof:
            raise OtlpRequestError(400, "the gzip body is truncated")
    except zlib.error as exc:
        raise OtlpRequestError(400, f"the body is not valid gzip: {exc}") from None
    return out


def decode_request(body: bytes, encoding: Encoding) -> Message:
    """Parse an ``ExportTraceServiceRequest``; 400 when the body does not decode.

    Protobuf bodies are parsed as ``_wire.WireRequest`` (the spans' nested messages are decoded
    when the spans are converted), JSON ones as the official message.
    """
    if encoding == "protobuf":
        wire = WireRequest()
        try:
            wire.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise OtlpRequestError(
                400, f"the body is not an OTLP protobuf message: {exc}"
            ) from None
        return wire
    request = ExportTraceServiceRequest()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpRequestError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpRequestError(400, "the body is not an OTLP JSON object")
    _hex_ids_to_base64(data)
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise OtlpRequestError(400, f"the body is not an OTLP JSON message: {exc}") from None
    return request


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """Rewrite OTLP/JSON's hex ids in place to the base64 that protobuf's JSON mapping reads."""
    for resource_spans in _items(data, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                _rewrite(span, _SPAN_IDS)
                for link in _items(span, "links"):
                    _rewrite(link, _LINK_IDS)


def _items(data: Any, *keys: str) -> list[Any]:
    if not isinstance(data, dict):
        return []
    for key in keys:
        value = data.get(key)
        if isinstance(value, list):
            return value
    return []


def _rewrite(obj: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(obj, dict):
        return
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise OtlpRequestError(
                    400, f"{key} {value[:40]!r} is not hex (OTLP/JSON ids are hex strings)"
                ) from None
