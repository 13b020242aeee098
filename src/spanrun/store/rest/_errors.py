"""A tracking server's error answer as the :mod:`spanrun.errors` exception a local store raises.

Both servers answer ``{"error_code": ..., "message": ...}`` (MLflow's shape). A spanrun server
adds ``"spanrun_error"``, the name of the :mod:`spanrun.errors` class it raised: that class is
raised here too. Otherwise the code picks the class, and since a stock MLflow server says some
things only in the message (a changed param and a deleted run are ``INVALID_PARAMETER_VALUE``
there), those messages refine it.
"""

from __future__ import annotations

import orjson

from spanrun import errors
from spanrun.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidParamChangeError,
    InvalidStateError,
    NotFoundError,
    SpanrunError,
    StoreError,
)

__all__ = ["error_from_response"]

_BY_CODE: dict[str, type[SpanrunError]] = {
    "RESOURCE_DOES_NOT_EXIST": NotFoundError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_ALREADY_EXISTS": AlreadyExistsError,
    "INVALID_PARAMETER_VALUE": InvalidInputError,
    "BAD_REQUEST": InvalidInputError,
    "MALFORMED_REQUEST": InvalidInputError,
    "INVALID_STATE": InvalidStateError,
}
# Phrases of MLflow's (and the local store's) messages that name a more precise error.
_PARAM_CHANGED = ("changing param values is not allowed", "logged twice in one batch")
_NOT_ACTIVE = ("must be in the 'active' state", "is deleted")


def _parse(body: bytes) -> tuple[str | None, str, type[SpanrunError] | None]:
    """(error_code, message, the spanrun error class the server named) of an error body."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, body[:500].decode("utf-8", errors="replace").strip(), None
    if not isinstance(payload, dict):
        return None, str(payload)[:500], None
    code = payload.get("error_code")
    message = payload.get("message") or payload.get("detail") or ""
    named = payload.get("spanrun_error")
    cls = (
        getattr(errors, named, None) if isinstance(named, str) and named in errors.__all__ else None
    )
    if not (isinstance(cls, type) and issubclass(cls, SpanrunError)) or cls is StoreError:
        cls = None
    return (code if isinstance(code, str) else None), str(message), cls


def error_from_response(status: int, body: bytes, method: str, path: str) -> SpanrunError:
    """The exception for a non-2xx answer to ``method path``."""
    code, message, named = _parse(body)
    if named is not None and 400 <= status < 500:
        return named(message or f"{code} ({status}) from {method} {path}")
    lowered = message.lower()
    if status in (401, 403) or code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return StoreError(
            f"The tracking server refused {method} {path} ({status}: {message or code}); set "
            "SPANRUN_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD)"
        )
    cls = _BY_CODE.get(code or "")
    if cls is None:
        if status == 404 and code in (None, "ENDPOINT_NOT_FOUND"):
            return StoreError(
                f"The tracking server has no endpoint {method} {path} (404); is it an MLflow "
                "or spanrun server of a supported version?"
            )
        if 400 <= status < 500 and status not in (408, 409, 429):
            cls = InvalidInputError
        else:
            return StoreError(
                f"The tracking server failed {method} {path}: {status} "
                f"{code or ''} {message}".rstrip()
            )
    if issubclass(cls, InvalidInputError) or cls is InvalidStateError:
        if any(p in lowered for p in _PARAM_CHANGED):
            cls = InvalidParamChangeError
        elif any(p in lowered for p in _NOT_ACTIVE):
            cls = InvalidStateError
    return cls(message or f"{code} ({status}) from {method} {path}")
