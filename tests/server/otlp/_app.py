"""A minimal server app hosting the OTLP receiver, run by a real uvicorn in its own process.

``python -m tests.server.otlp._app STORE_URI PORT [JSON_OPTIONS]`` serves ``OtlpReceiver``'s
routes (and runs its startup and shutdown) as ``spanrun server`` will, until it is stopped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette

from spanrun.server.otlp import OtlpReceiver


def make_app(store_uri: str, **options: Any) -> Starlette:
    """The receiver's routes (and OTLP/gRPC with ``grpc_port``), as a server extension."""
    receiver = OtlpReceiver(store_uri, **options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await receiver.startup()
        yield
        await receiver.shutdown()

    return Starlette(routes=list(receiver.routes()), lifespan=lifespan)


if __name__ == "__main__":
    store_uri, port = sys.argv[1], int(sys.argv[2])
    options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    uvicorn.run(make_app(store_uri, **options), host="127.0.0.1", port=port, log_level="warning")
