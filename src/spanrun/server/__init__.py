"""``spanrun server``: a store (SQLite or PostgreSQL) over HTTP, with MLflow's REST API 2.0.

:func:`create_app` builds the ASGI app (Starlette) that ``spanrun server`` and ``spanrun ui``
serve with uvicorn; it runs under any ASGI server. It answers:

- MLflow's REST API 2.0 (``/api/2.0/mlflow/...``: experiments, runs, metrics, params, tags,
  search, metric history, ``artifacts/list``) with MLflow's paths, JSON and error bodies, so
  the stock ``mlflow`` client with ``MLFLOW_TRACKING_URI=http://...`` works against it;
- MLflow's proxied artifact API (``/api/2.0/mlflow-artifacts/artifacts/<path>``); runs'
  artifact URIs are ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``;
- spanrun's own endpoints (``/api/2.0/spanrun/...``: server info, spans, export batches,
  traces), and the routes of :class:`ServerExtension` objects (the OTLP receiver);
- ``/health``.

Every route is behind the Host-header check, the bearer token (when set) and body limits.
"""

from __future__ import annotations

from spanrun.server._app import (
    DEFAULT_EXTENSIONS,
    ENV_ALLOWED_HOSTS,
    ENV_ARTIFACTS_DESTINATION,
    ENV_BACKEND_STORE_URI,
    ENV_EXTENSIONS,
    ENV_MAX_BODY_BYTES,
    ENV_MAX_UPLOAD_BYTES,
    ENV_TOKEN,
    app_from_environment,
    create_app,
)
from spanrun.server._errors import STATUS_BY_CODE
from spanrun.server._extension import ExtensionFactory, ServerExtension
from spanrun.server._gc import SERVER_GC_THRESHOLD, tune_gc_for_serving
from spanrun.server._security import LOOPBACK_HOSTS

__all__ = [
    "DEFAULT_EXTENSIONS",
    "ENV_ALLOWED_HOSTS",
    "ENV_ARTIFACTS_DESTINATION",
    "ENV_BACKEND_STORE_URI",
    "ENV_EXTENSIONS",
    "ENV_MAX_BODY_BYTES",
    "ENV_MAX_UPLOAD_BYTES",
    "ENV_TOKEN",
    "LOOPBACK_HOSTS",
    "SERVER_GC_THRESHOLD",
    "STATUS_BY_CODE",
    "ExtensionFactory",
    "ServerExtension",
    "app_from_environment",
    "create_app",
    "tune_gc_for_serving",
]
