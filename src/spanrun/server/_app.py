"""The ASGI app factory: :func:`create_app`, and :func:`app_from_environment` for workers."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from spanrun.errors import InvalidInputError
from spanrun.server._artifacts import ARTIFACT_LIST_ROUTES, artifact_proxy_routes
from spanrun.server._context import ServerContext
from spanrun.server._errors import exception_response
from spanrun.server._experiments import EXPERIMENT_ROUTES
from spanrun.server._extension import ExtensionFactory, ServerExtension
from spanrun.server._gc import tune_gc_for_serving
from spanrun.server._routing import json_routes
from spanrun.server._run_data import RUN_DATA_ROUTES
from spanrun.server._runs import RUN_ROUTES
from spanrun.server._security import LOOPBACK_HOSTS, SecurityMiddleware
from spanrun.server._spanrun_api import SPANRUN_PREFIX, SPANRUN_ROUTES
from spanrun.store import get_store

__all__ = [
    "DEFAULT_EXTENSIONS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "ENV_ALLOWED_HOSTS",
    "ENV_ARTIFACTS_DESTINATION",
    "ENV_BACKEND_STORE_URI",
    "ENV_EXTENSIONS",
    "ENV_MAX_BODY_BYTES",
    "ENV_MAX_UPLOAD_BYTES",
    "ENV_TOKEN",
    "app_from_environment",
    "create_app",
    "default_backend_store_uri",
]

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024**3

# The configuration of app_from_environment (what `spanrun server --workers N` passes on).
ENV_BACKEND_STORE_URI = "SPANRUN_SERVER_BACKEND_STORE_URI"
ENV_ARTIFACTS_DESTINATION = "SPANRUN_SERVER_ARTIFACTS_DESTINATION"
ENV_TOKEN = "SPANRUN_SERVER_TOKEN"
ENV_ALLOWED_HOSTS = "SPANRUN_SERVER_ALLOWED_HOSTS"
ENV_MAX_BODY_BYTES = "SPANRUN_SERVER_MAX_BODY_BYTES"
ENV_MAX_UPLOAD_BYTES = "SPANRUN_SERVER_MAX_UPLOAD_BYTES"
ENV_EXTENSIONS = "SPANRUN_SERVER_EXTENSIONS"

#: Extension factories (``"module:attribute"``) every server built from the environment gets,
#: unless ``SPANRUN_SERVER_EXTENSIONS`` names others.
DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "spanrun.server.otlp:receiver_from_environment",
    "spanrun.ui:UiExtension",
)

_UPLOAD_PREFIXES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")


def default_backend_store_uri() -> str:
    """The embedded store in the working directory (artifacts in ``./spanrun-artifacts``)."""
    return f"sqlite:///{Path.cwd() / 'spanrun.db'}"


async def _health(request: Request) -> Response:
    return PlainTextResponse("OK")


async def _error_handler(request: Request, exc: Exception) -> Response:
    return exception_response(exc, f"{request.method} {request.url.path}")


def create_app(
    backend_store_uri: str | None = None,
    artifacts_destination: str | None = None,
    *,
    auth_token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    extensions: Sequence[ServerExtension] = (),
    tune_gc: bool = False,
) -> Starlette:
    """The spanrun server as an ASGI app (serve it with uvicorn or any ASGI server).

    ``backend_store_uri``: a ``sqlite:///`` or ``postgresql://`` URI (default
    ``./spanrun.db``). ``artifacts_destination``: the folder the server keeps and proxies
    artifacts in (default: ``spanrun-artifacts`` beside the SQLite file, else
    ``./spanrun-artifacts``). ``auth_token``: when given, every request needs
    ``Authorization: Bearer <token>``. ``allowed_hosts``: the Host names (any port) it
    answers; default the loopback names, ``["*"]`` for any (put a token on such a server).
    Bodies above ``max_body_bytes`` (artifact uploads: ``max_upload_bytes``) get a 413.
    ``extensions`` add routes behind the same checks, started and stopped with the app.
    ``tune_gc``: once started, tune the garbage collector for serving
    (:func:`tune_gc_for_serving`; process-wide: for a process that only serves, as the
    ``spanrun server`` workers do, not for an app run in a thread of another program).
    """
    uri = backend_store_uri or default_backend_store_uri()
    store = get_store(uri, artifacts_destination)
    context = ServerContext(store, uri)
    routes: list[BaseRoute] = [
        *json_routes(
            context, [*EXPERIMENT_ROUTES, *RUN_ROUTES, *RUN_DATA_ROUTES, *ARTIFACT_LIST_ROUTES]
        ),
        *json_routes(context, SPANRUN_ROUTES, prefixes=(SPANRUN_PREFIX,)),
        *artifact_proxy_routes(context),
        Route("/health", _health, methods=["GET"]),
    ]
    for extension in extensions:
        routes.extend(extension.routes())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started: list[ServerExtension] = []
        try:
            for extension in extensions:
                await extension.startup()
                started.append(extension)
            if tune_gc:  # the app is up: what exists now lives as long as the process
                tune_gc_for_serving()
            yield
        finally:
            for extension in reversed(started):
                await extension.shutdown()

    hosts = list(allowed_hosts) if allowed_hosts is not None else list(LOOPBACK_HOSTS)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SecurityMiddleware,
                auth_token=auth_token,
                allowed_hosts=hosts,
                max_body_bytes=max_body_bytes,
                max_upload_bytes=max_upload_bytes,
                upload_prefixes=_UPLOAD_PREFIXES,
            )
        ],
        exception_handlers={HTTPException: _error_handler, Exception: _error_handler},
        lifespan=lifespan,
    )
    app.state.spanrun = context
    return app


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {value!r}") from None


def _load_factory(target: str) -> ExtensionFactory:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise InvalidInputError(f"Extension {target!r} must be written 'module:attribute'")
    factory: ExtensionFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def app_from_environment() -> Starlette:
    """:func:`create_app` configured by ``SPANRUN_SERVER_*`` variables: the import-string
    factory each uvicorn worker calls (``uvicorn --factory
    spanrun.server:app_from_environment``)."""
    uri = os.environ.get(ENV_BACKEND_STORE_URI) or default_backend_store_uri()
    destination = os.environ.get(ENV_ARTIFACTS_DESTINATION) or None
    hosts = os.environ.get(ENV_ALLOWED_HOSTS)
    named = os.environ.get(ENV_EXTENSIONS)
    targets = DEFAULT_EXTENSIONS if named is None else tuple(named.split(","))
    store = get_store(uri, destination)
    extensions = [_load_factory(t.strip())(store) for t in targets if t.strip()]
    return create_app(
        uri,
        destination,
        auth_token=os.environ.get(ENV_TOKEN) or None,
        allowed_hosts=[h.strip() for h in hosts.split(",") if h.strip()] if hosts else None,
        max_body_bytes=_env_int(ENV_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES),
        max_upload_bytes=_env_int(ENV_MAX_UPLOAD_BYTES, DEFAULT_MAX_UPLOAD_BYTES),
        extensions=extensions,
        tune_gc=True,  # each uvicorn worker is a process of its own that only serves
    )
