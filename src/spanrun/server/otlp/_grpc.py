"""OTLP/gRPC: the OpenTelemetry ``TraceService`` on a port of its own, fed into the same
ingest queue as ``POST /v1/traces``.

Answers as OTLP/gRPC says: OK with ``partial_success`` when spans were rejected,
INVALID_ARGUMENT for requests the receiver refuses, UNAVAILABLE (which senders retry with
backoff) when the queue is full or the store did not take the spans, UNAUTHENTICATED without
the server's bearer token (``authorization`` metadata) when one is set. Messages are limited to
the receiver's ``max_body_bytes`` (gRPC enforces it after decompression).
"""

from __future__ import annotations

import hmac
import logging
from concurrent import futures
from dataclasses import dataclass
from typing import Any, NoReturn

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from spanrun.errors import MissingDependencyError
from spanrun.server.otlp._decode import OtlpRequestError
from spanrun.server.otlp._experiments import EXPERIMENT_HEADER
from spanrun.server.otlp._ingest import StoreUnavailable
from spanrun.server.otlp._receiver import OtlpReceiver

__all__ = ["GrpcReceiver", "start_grpc_receiver"]

_log = logging.getLogger(__name__)


@dataclass
class GrpcReceiver:
    """A running OTLP/gRPC receiver: ``port`` it listens on, ``stop()`` to end it."""

    port: int
    server: Any  # grpc.Server

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking requests; those in progress get ``grace_s`` to finish."""
        self.server.stop(grace_s).wait()


def start_grpc_receiver(
    port: int,
    receiver: OtlpReceiver,
    *,
    host: str = "127.0.0.1",
    auth_token: str | None = None,
    max_workers: int = 8,
    answer_timeout_s: float = 30.0,
    reuse_port: bool = False,
) -> GrpcReceiver:
    """Serve OTLP/gRPC on ``host:port`` (0: any free port) into ``receiver``'s ingest queue.

    ``reuse_port``: SO_REUSEPORT, so that several server processes share the port (off: a
    port already taken is an error rather than shared by surprise).

    Needs ``grpcio`` (``pip install grpcio``); raises ``MissingDependencyError`` without it.
    """
    try:
        import grpc  # type: ignore[import-untyped]
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"the OTLP/gRPC receiver needs grpcio: pip install grpcio ({exc})"
        ) from exc

    expected = f"Bearer {auth_token}" if auth_token else None

    def fail(context: Any, code: Any, message: str) -> NoReturn:
        context.abort(code, message)  # raises
        raise AssertionError("unreachable")

    class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(  # the generated service's method name
            self, request: ExportTraceServiceRequest, context: Any
        ) -> ExportTraceServiceResponse:
            metadata = dict(context.invocation_metadata())
            if expected is not None and not hmac.compare_digest(
                str(metadata.get("authorization", "")).encode(), expected.encode()
            ):
                fail(context, grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
            future = receiver.ingest.submit(request, metadata.get(EXPERIMENT_HEADER))
            if future is None:
                fail(context, grpc.StatusCode.UNAVAILABLE, "the ingest queue is full; retry later")
            try:
                result = future.result(timeout=answer_timeout_s)
            except futures.TimeoutError:
                future.cancel()  # still queued: dropped, the sender retries
                fail(context, grpc.StatusCode.UNAVAILABLE, "the store is slow; retry later")
            except StoreUnavailable as exc:
                fail(context, grpc.StatusCode.UNAVAILABLE, str(exc))
            except OtlpRequestError as exc:
                fail(context, grpc.StatusCode.INVALID_ARGUMENT, exc.message)
            answer = ExportTraceServiceResponse()
            if result.rejected:
                answer.partial_success.rejected_spans = result.rejected
                answer.partial_success.error_message = result.message
            return answer

    limit = receiver.max_body_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="spanrun-otlp-grpc"),
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        TraceService(), server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot listen on {host}:{port} for OTLP/gRPC")
    server.start()
    _log.info("spanrun: OTLP/gRPC receiver on %s:%d", host, bound)
    return GrpcReceiver(bound, server)
