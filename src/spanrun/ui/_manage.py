"""The UI's only writes: create, rename and delete an experiment (HTML forms, POST).

A form post must come from the UI's own origin: the ``Origin`` header (which browsers send with
every POST) has to name this server, so another site cannot make a visitor's browser change
experiments (cross-site request forgery); the server's middleware also refuses cross-site
requests by ``Sec-Fetch-Site``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from spanrun.errors import AlreadyExistsError, InvalidInputError, NotFoundError, SpanrunError
from spanrun.store import Store
from spanrun.ui._render import page

__all__ = ["create_experiment", "delete_experiment", "rename_experiment"]

MAX_FORM_BYTES = 64 * 1024


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInputError("The form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidInputError("The form is not UTF-8") from None
    return {k: v[0] for k, v in fields.items()}


def _name(form: dict[str, str]) -> str:
    name = form.get("name", "").strip()
    if not name:
        raise InvalidInputError("Give the experiment a name")
    return name


async def _guarded(
    request: Request, action: str, work: Callable[[dict[str, str]], str]
) -> Response:
    if not _same_origin(request):
        refused = "Cross-origin form posts are refused"
        return page("error.html", 403, title="Refused", message=refused)
    try:
        form = await _form(request)
        target = await run_in_threadpool(work, form)
    except NotFoundError as exc:
        return page("error.html", 404, title="Not found", message=str(exc))
    except AlreadyExistsError as exc:
        return page("error.html", 409, title=f"Cannot {action}", message=str(exc))
    except (InvalidInputError, SpanrunError) as exc:
        return page("error.html", 400, title=f"Cannot {action}", message=str(exc))
    return RedirectResponse(target, status_code=303)


async def create_experiment(store: Store, request: Request) -> Response:
    def work(form: dict[str, str]) -> str:
        experiment_id = store.create_experiment(_name(form))
        return f"/experiments/{quote(experiment_id, safe='')}"

    return await _guarded(request, "create the experiment", work)


async def rename_experiment(store: Store, request: Request, experiment_id: str) -> Response:
    def work(form: dict[str, str]) -> str:
        store.rename_experiment(experiment_id, _name(form))
        return f"/experiments/{quote(experiment_id, safe='')}"

    return await _guarded(request, "rename the experiment", work)


async def delete_experiment(store: Store, request: Request, experiment_id: str) -> Response:
    def work(form: dict[str, str]) -> str:
        store.get_experiment(experiment_id)  # unknown: a 404
        store.delete_experiment(experiment_id)
        return "/"

    return await _guarded(request, "delete the experiment", work)
