"""``POST /v1/traces``: OTLP/HTTP, answered as the OTLP specification says.

- 200 with an ``ExportTraceServiceResponse`` (``partial_success`` when spans were rejected), in
  the request's encoding, once the spans are committed;
- 400 for a body that does not decode, 413 over the size limit (compressed or not), 415 for
  another content type or encoding: a ``google.rpc.Status`` body;
- 503 with ``Retry-After`` when the ingest queue is full or the store did not take the spans:
  the sender retries, nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from spanrun.server.otlp._decode import (
    Encoding,
    OtlpRequestError,
    decode_request,
    decompressed,
    encoding_of,
)
from spanrun.server.otlp._experiments import EXPERIMENT_HEADER
from spanrun.server.otlp._ingest import Ingest, IngestResult, StoreUnavailable

__all__ = ["TracesEndpoint"]

_MEDIA_TYPES = {"protobuf": "application/x-protobuf", "json": "application/json"}
_CODES = {400: code_pb2.INVALID_ARGUMENT, 413: code_pb2.INVALID_ARGUMENT, 503: code_pb2.UNAVAILABLE}


class TracesEndpoint:
    """The ``/v1/traces`` handler (a Starlette endpoint) over an :class:`Ingest` (looked up per
    request: the receiver makes it at startup)."""

    def __init__(
        self,
        ingest: Callable[[], Ingest],
        *,
        max_body_bytes: int,
        retry_after_s: int = 1,
        answer_timeout_s: float = 30.0,
    ) -> None:
        self.ingest = ingest
        self.max_body_bytes = max_body_bytes
        self.retry_after_s = retry_after_s
        self.answer_timeout_s = answer_timeout_s

    async def handle(self, request: Request) -> Response:
        """Answer one export request."""
        encoding: Encoding = "json"  # errors before the content type is known are JSON
        try:
            encoding = encoding_of(request.headers.get("content-type"))
            body = await self._read_body(request)
            body = decompressed(body, request.headers.get("content-encoding"), self.max_body_bytes)
            if encoding == "json":  # pure-Python parsing: off the event loop
                message = await run_in_threadpool(decode_request, body, encoding)
            else:
                message = decode_request(body, encoding)
            future = self.ingest().submit(message, request.headers.get(EXPERIMENT_HEADER))
            if future is None:
                return self._unavailable(encoding, "the ingest queue is full; retry later")
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(future), self.answer_timeout_s)
            except asyncio.TimeoutError:
                return self._unavailable(encoding, "the store is slow; retry later")
            except StoreUnavailable as exc:
                return self._unavailable(encoding, str(exc))
        except OtlpRequestError as exc:
            return _status(encoding, exc.status, exc.message)
        except ClientDisconnect:
            return Response(status_code=400)
        return _success(encoding, result)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                raise OtlpRequestError(400, "Content-Length is not a number") from None
            if too_big:
                raise OtlpRequestError(413, f"the body is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise OtlpRequestError(413, f"the body is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _unavailable(self, encoding: Encoding, message: str) -> Response:
        response = _status(encoding, 503, message)
        response.headers["Retry-After"] = str(self.retry_after_s)
        return response


def _success(encoding: Encoding, result: IngestResult) -> Response:
    answer = ExportTraceServiceResponse()
    if result.rejected:
        answer.partial_success.rejected_spans = result.rejected
        answer.partial_success.error_message = result.message
    return _message(encoding, 200, answer)


def _status(encoding: Encoding, http_status: int, message: str) -> Response:
    status = status_pb2.Status(code=_CODES.get(http_status, code_pb2.INVALID_ARGUMENT))
    status.message = message
    return _message(encoding, http_status, status)


def _message(encoding: Encoding, http_status: int, message: Any) -> Response:
    if encoding == "protobuf":
        content = message.SerializeToString()
    else:
        content = orjson.dumps(json_format.MessageToDict(message))
    return Response(content, status_code=http_status, media_type=_MEDIA_TYPES[encoding])
