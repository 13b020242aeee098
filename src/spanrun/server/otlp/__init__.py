"""OTLP trace ingest for ``spanrun server``: spans from any OpenTelemetry SDK or Collector
become runs, per-call metrics, prediction rows and traces.

``OtlpReceiver`` serves ``POST /v1/traces`` (OTLP/HTTP: protobuf or JSON, gzip or not) as a
server extension (``routes()``, ``startup()``, ``shutdown()``); ``start_grpc_receiver`` adds
OTLP/gRPC on a port of its own. Both feed one ``spanrun.exporters.RunExporter``: the mapping
autolog runs in-process. A 200 means the spans are committed; a full queue or a failing store
answers 503 with Retry-After (gRPC: UNAVAILABLE), so senders retry; a retried batch is not
counted twice.
"""

from spanrun.server.otlp._decode import OtlpRequestError
from spanrun.server.otlp._experiments import EXPERIMENT_HEADER, EXPERIMENT_NAME_ATTRIBUTE
from spanrun.server.otlp._grpc import GrpcReceiver, start_grpc_receiver
from spanrun.server.otlp._receiver import (
    DEFAULT_MAX_BODY_BYTES,
    ENV_VARIABLES,
    OtlpReceiver,
    receiver_from_environment,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ENV_VARIABLES",
    "EXPERIMENT_HEADER",
    "EXPERIMENT_NAME_ATTRIBUTE",
    "GrpcReceiver",
    "OtlpReceiver",
    "OtlpRequestError",
    "receiver_from_environment",
    "start_grpc_receiver",
]
