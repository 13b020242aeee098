"""Request helpers shared by the pages: bounded query parameters, typed errors as pages."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from spanrun.errors import AlreadyExistsError, InvalidInputError, NotFoundError, SpanrunError
from spanrun.ui._render import page

__all__ = ["Endpoint", "handled", "int_param"]

Endpoint = Callable[[Request], Response]
_log = logging.getLogger("spanrun.ui")


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter clamped to ``[low, high]``; a non-number is a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"Parameter {name!r} must be an integer, got {raw!r}") from None
    return max(low, min(high, value))


def handled(endpoint: Endpoint) -> Endpoint:
    """Typed errors become an error page: 404 for what does not exist, 400 for bad input."""

    @functools.wraps(endpoint)
    def wrapper(request: Request) -> Response:
        try:
            return endpoint(request)
        except NotFoundError as exc:
            return page("error.html", 404, title="Not found", message=str(exc))
        except InvalidInputError as exc:
            return page("error.html", 400, title="Bad request", message=str(exc))
        except AlreadyExistsError as exc:
            return page("error.html", 409, title="Already exists", message=str(exc))
        except SpanrunError as exc:
            _log.warning("UI request %s failed: %s", request.url.path, exc)
            return page("error.html", 500, title="Store error", message=str(exc))

    return wrapper
