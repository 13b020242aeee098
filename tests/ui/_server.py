"""A real uvicorn server for the UI tests: the UI extension's routes in a Starlette app, on a
thread of the test process (until the UI is served by ``spanrun.server.create_app``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from spanrun.store import get_store
from spanrun.ui import UiExtension


def ui_app(uri: str) -> Starlette:
    """The UI as users get it: an extension of the server's app (its security middleware,
    error shapes and the other routes beside it)."""
    from spanrun.server import create_app

    return create_app(uri, extensions=[UiExtension(get_store(uri))])


@contextmanager
def serve(uri: str) -> Iterator[str]:
    """Serve the UI over the store at ``uri``; yields the base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(ui_app(uri), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the UI server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
