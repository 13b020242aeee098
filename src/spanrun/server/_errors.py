"""Errors as MLflow's REST API answers them: ``{"error_code": ..., "message": ...}``.

The HTTP status follows MLflow's table (``mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS``) with one
deliberate difference: ``INVALID_STATE`` (a deleted run or experiment) is a 400 here, not a 500,
because it is the caller's mistake and a 5xx makes clients retry. The body also carries
``"spanrun_error"``, the name of the :mod:`spanrun.errors` class, so that spanrun's REST store
raises exactly the exception a local store would (MLflow clients ignore the extra field).

Errors that are not spanrun's own (bugs, a failing database driver) answer 500
``INTERNAL_ERROR`` with a fixed message; the details go to the server log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from starlette.exceptions import HTTPException
from starlette.responses import Response

from spanrun.errors import SpanrunError, StoreError

__all__ = [
    "STATUS_BY_CODE",
    "ApiError",
    "error_response",
    "exception_response",
]

_log = logging.getLogger("spanrun.server")

STATUS_BY_CODE: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "MALFORMED_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "REQUEST_LIMIT_EXCEEDED": 413,
    "INTERNAL_ERROR": 500,
    "TEMPORARILY_UNAVAILABLE": 503,
}

# Starlette's own refusals (no route, wrong method, body too large) in MLflow's vocabulary.
_CODE_BY_STATUS = {
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    413: "REQUEST_LIMIT_EXCEEDED",
}

INTERNAL_MESSAGE = "The server failed to handle the request; the details are in its log."


class ApiError(Exception):
    """An error answer decided by the server itself (unknown route, too large, no token)."""

    def __init__(
        self,
        error_code: str,
        message: str,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE.get(error_code, 400)
        self.headers = headers or {}


def error_response(
    error_code: str,
    message: str,
    status: int | None = None,
    *,
    error_class: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, str] = {"error_code": error_code, "message": message}
    if error_class:
        body["spanrun_error"] = error_class
    return Response(
        orjson.dumps(body),
        status_code=status if status is not None else STATUS_BY_CODE.get(error_code, 500),
        media_type="application/json",
        headers=headers,
    )


def exception_response(exc: BaseException, where: str) -> Response:
    """The answer for an exception raised while handling ``where`` (a route path)."""
    if isinstance(exc, ApiError):
        return error_response(exc.error_code, exc.message, exc.status, headers=exc.headers)
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        code = _CODE_BY_STATUS.get(exc.status_code, "BAD_REQUEST")
        detail = exc.detail if exc.status_code != 404 else f"No such endpoint: {where}"
        return error_response(code, detail, exc.status_code, headers=exc.headers)
    if isinstance(exc, SpanrunError) and not isinstance(exc, StoreError):
        status = STATUS_BY_CODE.get(exc.error_code, 500)
        if status < 500:
            return error_response(
                exc.error_code, exc.message, status, error_class=type(exc).__name__
            )
    # A store failure or a bug: logged with its traceback here, answered without it.
    _log.error("Error handling %s", where, exc_info=exc)
    return error_response("INTERNAL_ERROR", INTERNAL_MESSAGE, 500)
