"""JSON API routes: a handler is a plain function ``(context, params) -> dict``.

The endpoint around it reads the parameters (query string for GET, JSON body otherwise), runs
the handler in Starlette's thread pool (store calls block: SQLite, psycopg), and writes the
dict as JSON, or the error as MLflow's error body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spanrun.errors import InvalidInputError
from spanrun.server._context import ServerContext
from spanrun.server._errors import exception_response
from spanrun.server._params import Params, parse_json_object

__all__ = ["MLFLOW_PREFIXES", "Handler", "json_response", "json_routes", "read_params"]

Handler = Callable[[ServerContext, Params], dict[str, Any]]
#: MLflow serves its API under both (the second for its web UI).
MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    try:
        content = orjson.dumps(body)
    except TypeError:  # e.g. an integer beyond 64 bits in stored span attributes
        content = json.dumps(body, default=str).encode()
    return Response(content, status_code=status, media_type="application/json")


async def read_params(request: Request) -> Params:
    """The parameters of a request, as MLflow's server reads them."""
    if request.method == "GET":
        items = request.query_params.multi_items()
        if items:
            return Params.from_query(items)
    body = await request.body()
    if request.method != "GET" and body:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise InvalidInputError(
                "Bad Request. Content-Type must be application/json, got "
                f"{kind or 'no Content-Type header'}"
            )
    return Params(parse_json_object(body))


def _endpoint(context: ServerContext, path: str, handler: Handler) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        try:
            params = await read_params(request)
            result = await run_in_threadpool(handler, context, params)
        except Exception as exc:
            return exception_response(exc, path)
        return json_response(result)

    endpoint.__name__ = handler.__name__
    return endpoint


def json_routes(
    context: ServerContext,
    table: Iterable[tuple[str, Sequence[str], Handler]],
    prefixes: Sequence[str] = MLFLOW_PREFIXES,
) -> list[Route]:
    """Routes for ``(path, methods, handler)`` rows, under each prefix."""
    return [
        Route(prefix + path, _endpoint(context, prefix + path, handler), methods=list(methods))
        for prefix in prefixes
        for path, methods, handler in table
    ]
