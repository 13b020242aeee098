"""What a server extension (e.g. the OTLP receiver) provides to :func:`create_app`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from starlette.routing import BaseRoute

from spanrun.store import Store

__all__ = ["ExtensionFactory", "ServerExtension"]


@runtime_checkable
class ServerExtension(Protocol):
    """Routes served beside the API, behind the same host, token and body-size checks.

    ``startup`` runs when the server starts (before the first request), ``shutdown`` when it
    stops (after the last one), in each worker process.
    """

    def routes(self) -> Sequence[BaseRoute]: ...

    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


#: Builds an extension over the server's store; named as ``"module:attribute"`` in
#: ``SPANRUN_SERVER_EXTENSIONS`` so that every worker process builds its own.
ExtensionFactory = Callable[[Store], ServerExtension]
