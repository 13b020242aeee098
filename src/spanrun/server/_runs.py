"""MLflow's run endpoints: create, get, update, delete, restore and search runs."""

from __future__ import annotations

from typing import Any

from spanrun.core.entities import RunStatus
from spanrun.core.vocabulary import USER_TAG
from spanrun.errors import InvalidInputError
from spanrun.server._context import ServerContext
from spanrun.server._experiments import max_results, view_type
from spanrun.server._params import Params, key_values
from spanrun.server._routing import Handler
from spanrun.server._wire import run_info_json, run_json

__all__ = ["RUN_ROUTES"]


def _create(ctx: ServerContext, params: Params) -> dict[str, Any]:
    tags = dict(key_values("tags", params.objects("tags")))
    user_id = params.optional_string("user_id")
    if user_id and USER_TAG not in tags:
        tags[USER_TAG] = user_id
    run = ctx.client.create_run(
        params.optional_string("experiment_id") or "0",
        start_time=params.integer("start_time"),
        tags=tags,
        run_name=params.optional_string("run_name") or None,
    )
    return {"run": run_json(run, ctx.client_uri)}


def _get(ctx: ServerContext, params: Params) -> dict[str, Any]:
    return {"run": run_json(ctx.client.get_run(params.run_id()), ctx.client_uri)}


def _update(ctx: ServerContext, params: Params) -> dict[str, Any]:
    """As MLflow: each of status, end_time and run_name changes only when given."""
    run_id = params.run_id()
    status = params.optional_string("status")
    end_time = params.integer("end_time")
    name = params.optional_string("run_name")
    if status is not None and status not in RunStatus.__members__:
        raise InvalidInputError(
            f"Invalid run status {status!r}; use one of {', '.join(RunStatus.__members__)}"
        )
    ctx.client.get_run(run_id)  # the id checked, NotFoundError when unknown
    if status is not None or end_time is not None:
        ctx.store.update_run_info(run_id, status=status, end_time=end_time)
    if name is not None:
        ctx.client.update_run(run_id, name=name)  # also the mlflow.runName tag
    return {"run_info": run_info_json(ctx.client.get_run(run_id).info, ctx.client_uri)}


def _delete(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.delete_run(params.run_id())
    return {}


def _restore(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.restore_run(params.run_id())
    return {}


def _search(ctx: ServerContext, params: Params) -> dict[str, Any]:
    found = ctx.client.search_runs(
        params.string_list("experiment_ids") or [],
        filter_string=params.optional_string("filter") or "",
        run_view_type=view_type(params, "run_view_type"),
        max_results=max_results(params, 1000),
        order_by=params.string_list("order_by") or None,
        page_token=params.optional_string("page_token") or None,
    )
    body: dict[str, Any] = {"runs": [run_json(r, ctx.client_uri) for r in found]}
    if found.token:
        body["next_page_token"] = found.token
    return body


RUN_ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("/runs/create", ("POST",), _create),
    ("/runs/get", ("GET",), _get),
    ("/runs/update", ("POST",), _update),
    ("/runs/delete", ("POST",), _delete),
    ("/runs/restore", ("POST",), _restore),
    ("/runs/search", ("POST",), _search),
]
