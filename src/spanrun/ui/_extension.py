"""The UI as a server extension: its routes over one store, served by ``spanrun.server``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from spanrun.store import Store
from spanrun.ui import (
    _api,
    _artifact_pages,
    _compare_pages,
    _manage,
    _run_page,
    _runs_pages,
    _trace_pages,
)
from spanrun.ui._http import handled

__all__ = ["UiExtension"]

STATIC = Path(__file__).parent / "static"

Page = Callable[[Store, Request], Response]


class UiExtension:
    """The web UI's pages, JSON endpoints and static files over ``store``.

    Give it to ``spanrun.server.create_app(..., extensions=[UiExtension(store)])``; the class
    is also an extension factory (``"spanrun.ui:UiExtension"``) for servers built from the
    environment. Pages and endpoints only read, except the experiment forms (create, rename,
    delete; same-origin posts only). Paths outside the routes below are left to the server.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def _page(self, page: Page) -> Callable[[Request], Response]:
        store = self.store
        return handled(lambda request: page(store, request))

    def _with(
        self, name: str, page: Callable[[Store, Request, str], Response]
    ) -> Callable[[Request], Response]:
        store = self.store
        return handled(lambda request: page(store, request, request.path_params[name]))

    def _post(
        self, form: Callable[[Store, Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        store = self.store

        async def endpoint(request: Request) -> Response:
            return await form(store, request)

        return endpoint

    def _post_with(
        self, name: str, form: Callable[[Store, Request, str], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        store = self.store

        async def endpoint(request: Request) -> Response:
            return await form(store, request, request.path_params[name])

        return endpoint

    def routes(self) -> Sequence[BaseRoute]:
        """The UI's routes (GET only)."""
        return [
            Route("/", self._page(_runs_pages.experiments_page), methods=["GET"]),
            Route(
                "/experiments/{experiment_id}",
                self._with("experiment_id", _runs_pages.runs_page),
                methods=["GET"],
            ),
            Route("/runs/{run_id}", self._with("run_id", _run_page.run_page), methods=["GET"]),
            Route(
                "/runs/{run_id}/artifact",
                self._with("run_id", _artifact_pages.preview_page),
                methods=["GET"],
            ),
            Route(
                "/runs/{run_id}/artifact-file",
                self._with("run_id", _artifact_pages.artifact_file),
                methods=["GET"],
            ),
            Route("/compare", self._page(_compare_pages.compare_page), methods=["GET"]),
            Route("/predictions", self._page(_compare_pages.predictions_page), methods=["GET"]),
            Route("/traces", self._page(_trace_pages.traces_page), methods=["GET"]),
            Route(
                "/traces/{trace_id}",
                self._with("trace_id", _trace_pages.trace_page),
                methods=["GET"],
            ),
            Route(
                "/ui-api/metric-history",
                self._page(_api.metric_history),
                methods=["GET"],
            ),
            Route("/ui-api/run-count", self._page(_api.run_count), methods=["GET"]),
            Route("/ui-forms/experiments", self._post(_manage.create_experiment), methods=["POST"]),
            Route(
                "/ui-forms/experiments/{experiment_id}/rename",
                self._post_with("experiment_id", _manage.rename_experiment),
                methods=["POST"],
            ),
            Route(
                "/ui-forms/experiments/{experiment_id}/delete",
                self._post_with("experiment_id", _manage.delete_experiment),
                methods=["POST"],
            ),
            Mount("/ui-static", StaticFiles(directory=STATIC), name="ui-static"),
        ]

    async def startup(self) -> None:
        """Nothing to start: the store is the server's."""

    async def shutdown(self) -> None:
        """Nothing to stop."""
