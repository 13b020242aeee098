"""A server extension for the tests, loaded by ``spanrun server`` through
``SPANRUN_SERVER_EXTENSIONS=tests.server._test_extension:make``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from spanrun.store import Store


class TestExtension:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.started = False

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/test-ext/boom", self.boom, methods=["GET"]),
            Route("/test-ext/echo", self.echo, methods=["POST"]),
            Route("/test-ext/state", self.state, methods=["GET"]),
        ]

    async def boom(self, request: Request) -> Response:
        raise RuntimeError("internal detail that must not leak: /etc/shadow")

    async def echo(self, request: Request) -> Response:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return JSONResponse({"size": size})

    async def state(self, request: Request) -> Response:
        return JSONResponse({"started": self.started, "store": type(self.store).__name__})

    async def startup(self) -> None:
        self.started = True

    async def shutdown(self) -> None:
        marker = os.environ.get("TEST_EXTENSION_SHUTDOWN_MARKER")
        if marker:
            Path(marker).write_text("stopped")


def make(store: Store) -> TestExtension:
    return TestExtension(store)
