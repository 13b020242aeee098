"""The checks in front of every route (extensions' included), as one ASGI middleware.

In order, each answering with MLflow's error body:

1. Host header (against DNS rebinding): unless ``allowed_hosts`` contains ``"*"``, the Host's
   name (any port) must be one of them, else 403. A loopback server allows ``localhost``,
   ``127.0.0.1`` and ``[::1]`` only, so a web page on another name that resolves to 127.0.0.1
   cannot talk to it. A browser's cross-site request (``Sec-Fetch-Site: cross-site``) is
   refused too (403).
2. Bearer token, when the server has one: ``Authorization: Bearer <token>``, compared in
   constant time, else 401 ``UNAUTHENTICATED``.
3. Body size: a ``Content-Length`` above the limit is a 413 before the body is read; a body
   without one is counted as it streams and stops with a 413 at the limit. Artifact uploads
   (``PUT`` under the artifacts path) have their own, larger limit.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanrun.server._errors import error_response, exception_response

__all__ = ["LOOPBACK_HOSTS", "BodyTooLargeError", "SecurityMiddleware", "host_name"]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class BodyTooLargeError(HTTPException):
    """Raised while reading a body past its limit (an HTTPException: Starlette answers it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds the server's limit of {limit} bytes")


def host_name(host: str) -> str:
    """The name part of a Host header value, lowercased: ``[::1]:5000`` -> ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if ":" in host else host


class SecurityMiddleware:
    """Host check, bearer token and body limits around ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth_token: str | None,
        allowed_hosts: Sequence[str],
        max_body_bytes: int,
        max_upload_bytes: int,
        upload_prefixes: Sequence[str],
    ) -> None:
        self.app = app
        self._token = auth_token.encode("utf-8") if auth_token else None
        self._any_host = "*" in allowed_hosts
        self._hosts = frozenset(h.lower() for h in allowed_hosts)
        self._max_body = max_body_bytes
        self._max_upload = max_upload_bytes
        self._upload_prefixes = tuple(upload_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(headers)
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await refusal(scope, receive, send)
            return
        limit = self._max_body
        if scope.get("method") == "PUT" and scope["path"].startswith(self._upload_prefixes):
            limit = self._max_upload
        declared = headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                await error_response("BAD_REQUEST", "Invalid Content-Length", 400)(
                    scope, receive, send
                )
                return
            if int(declared) > limit:
                await error_response(
                    "REQUEST_LIMIT_EXCEEDED",
                    f"The request body exceeds the server's limit of {limit} bytes",
                    413,
                    headers={"Connection": "close"},
                )(scope, receive, send)
                return
        await self._guarded(scope, _limited(receive, limit), send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; an exception it lets out (an extension's bug) becomes a 500 here, so
        the connection stays usable (Starlette's outermost handler re-raises to the server,
        which then drops the keep-alive connection)."""
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or scope["type"] != "http":
                raise
            where = f"{scope.get('method')} {scope.get('path')}"
            await exception_response(exc, where)(scope, receive, send)

    def _refusal(self, headers: dict[str, str]) -> Response | None:
        if not self._any_host and host_name(headers.get("host", "")) not in self._hosts:
            return error_response(
                "PERMISSION_DENIED",
                "This server only answers requests addressed to "
                + ", ".join(sorted(self._hosts))
                + " (Host header check)",
                403,
            )
        if headers.get("sec-fetch-site") == "cross-site":
            return error_response("PERMISSION_DENIED", "Cross-site requests are refused", 403)
        if self._token is not None:
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode("latin-1"), self._token
            ):
                return error_response(
                    "UNAUTHENTICATED",
                    "A valid 'Authorization: Bearer <token>' header is required",
                    401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return None


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLargeError(limit)
        return message

    return limited_receive
