"""One keep-alive HTTP connection pool to a tracking server, with bounded retries.

Retried, with exponential backoff (``Retry-After`` honoured, capped): connection failures
(nothing reached the server, or a kept-alive connection it had closed) and answers 429, 502
and 503 (the server, or a proxy in front of it, asks to come back). A request that may have
been processed (a read timeout, a 500) is not retried, so a metric is not logged twice.
Errors arrive as :mod:`spanrun.errors` exceptions (:mod:`spanrun.store.rest._errors`).

Settings (environment): ``SPANRUN_HTTP_REQUEST_TIMEOUT`` (seconds per request, default 120),
``SPANRUN_HTTP_REQUEST_MAX_RETRIES`` (default 5), ``SPANRUN_HTTP_REQUEST_BACKOFF_FACTOR``
(seconds before the first retry, doubled each time, default 0.5; a wait is at most 30 s).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from spanrun.core.http_auth import auth_headers
from spanrun.errors import InvalidInputError, StoreError
from spanrun.store.rest._errors import error_from_response

__all__ = ["RETRY_STATUSES", "Transport", "TransportSettings"]

_log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503})
_MAX_WAIT_S = 30.0
# Failures where the request certainly did not reach the application (or the server closed
# a kept-alive connection before reading it): safe to send again, even a POST.
_RETRY_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.RemoteProtocolError,
)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise InvalidInputError(f"{name}={raw!r} must not be negative")
    return value


class TransportSettings:
    """Timeout and retry policy (from the environment unless given)."""

    def __init__(
        self,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_factor: float | None = None,
    ) -> None:
        self.timeout = (
            _env_number("SPANRUN_HTTP_REQUEST_TIMEOUT", 120.0) if timeout is None else timeout
        )
        self.max_retries = (
            int(_env_number("SPANRUN_HTTP_REQUEST_MAX_RETRIES", 5))
            if max_retries is None
            else max_retries
        )
        self.backoff_factor = (
            _env_number("SPANRUN_HTTP_REQUEST_BACKOFF_FACTOR", 0.5)
            if backoff_factor is None
            else backoff_factor
        )

    def wait(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        wait = float(self.backoff_factor * 2.0**attempt)
        if retry_after:
            wait = max(wait, _retry_after_seconds(retry_after))
        return min(wait, _MAX_WAIT_S)


def _retry_after_seconds(value: str) -> float:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; 0 when unreadable."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"spanrun/{version('spanrun')}"
    except Exception:  # not installed as a distribution (a source checkout)
        return "spanrun"


class Transport:
    """Requests to one server (``base_url`` without a trailing slash); JSON in, JSON out."""

    def __init__(self, base_url: str, settings: TransportSettings | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.settings = settings or TransportSettings()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._pid = os.getpid()

    def _http(self) -> httpx.Client:
        client = self._client
        if client is None or self._pid != os.getpid():  # a forked child opens its own sockets
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._client = httpx.Client(
                        timeout=httpx.Timeout(self.settings.timeout),
                        headers={"User-Agent": _user_agent()},
                        limits=httpx.Limits(max_keepalive_connections=16, max_connections=64),
                        follow_redirects=False,
                        trust_env=False,
                    )
                client = self._client
        return client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; a non-2xx answer raises its spanrun error."""
        response = self.send(
            method, path, params=params, body=body, content=content, headers=headers
        )
        if response.status_code >= 300:
            raise error_from_response(response.status_code, response.content, method, path)
        return response

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | None = None,
    ) -> dict[str, Any]:
        """``request`` and the JSON object it answered (``{}`` for an empty body); ``content``
        is a body already encoded as JSON."""
        headers = {"Content-Type": "application/json"} if content is not None else None
        response = self.request(
            method, path, params=params, body=body, content=content, headers=headers
        )
        if not response.content:
            return {}
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise StoreError(
                f"{method} {path}: the server at {self.base_url} answered something that is not "
                f"JSON: {response.content[:200]!r}"
            ) from None
        if not isinstance(payload, dict):
            raise StoreError(f"{method} {path}: expected a JSON object, got {payload!r:.200}")
        return payload

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries and return the final answer, whatever its status."""
        all_headers = dict(auth_headers())
        if body is not None:
            try:
                content = orjson.dumps(body)
            except orjson.JSONEncodeError as exc:  # a lone surrogate has no UTF-8 form
                raise InvalidInputError(
                    f"{method} {path}: the request cannot be sent as JSON: {exc}"
                ) from None
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)
        url = self.base_url + path
        settings = self.settings
        attempt = 0
        while True:
            try:
                response = self._http().request(
                    method, url, params=params, content=content, headers=all_headers
                )
            except _RETRY_ERRORS as exc:
                if attempt >= settings.max_retries:
                    raise StoreError(
                        f"Cannot reach the tracking server at {self.base_url} ({method} {path}) "
                        f"after {attempt + 1} attempts: {exc}"
                    ) from None
                retry_after = None
                reason = str(exc) or type(exc).__name__
            except httpx.HTTPError as exc:
                raise StoreError(
                    f"{method} {path} to the tracking server at {self.base_url} failed: "
                    f"{str(exc) or type(exc).__name__}"
                ) from None
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= settings.max_retries:
                    return response
                retry_after = response.headers.get("Retry-After")
                reason = f"HTTP {response.status_code}"
            wait = settings.wait(attempt, retry_after)
            _log.debug("spanrun: %s %s: %s; retrying in %.2f s", method, path, reason, wait)
            time.sleep(wait)
            attempt += 1
