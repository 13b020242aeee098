"""MLflow's experiment endpoints: ``/api/2.0/mlflow/experiments/...``."""

from __future__ import annotations

from typing import Any

from spanrun.core.entities import ViewType
from spanrun.errors import InvalidInputError, NotFoundError
from spanrun.server._context import ServerContext
from spanrun.server._params import Params, key_values
from spanrun.server._routing import Handler
from spanrun.server._wire import experiment_json

__all__ = ["EXPERIMENT_ROUTES", "max_results", "view_type"]

_VIEW_TYPES = {v.name: v for v in ViewType}
MAX_SEARCH_RESULTS = 50_000


def view_type(params: Params, name: str) -> ViewType:
    """A ViewType given by name (``"ACTIVE_ONLY"``) or number (``1``); ACTIVE_ONLY if absent."""
    value = params.raw(name)
    if value is None:
        return ViewType.ACTIVE_ONLY
    if isinstance(value, str) and value in _VIEW_TYPES:
        return _VIEW_TYPES[value]
    try:
        return ViewType(params.integer(name) or 0)
    except ValueError:
        raise InvalidInputError(
            f"Invalid value {value!r} for parameter '{name}': use ACTIVE_ONLY, DELETED_ONLY or ALL"
        ) from None


def max_results(params: Params, default: int, limit: int = MAX_SEARCH_RESULTS) -> int:
    value = params.integer("max_results")
    if value is None:
        return default
    if not 1 <= value <= limit:
        raise InvalidInputError(
            f"Invalid value {value} for parameter 'max_results': it must be between 1 and {limit}"
        )
    return value


def _create(ctx: ServerContext, params: Params) -> dict[str, Any]:
    name = params.required("name")
    location = params.optional_string("artifact_location") or None
    tags = dict(key_values("tags", params.objects("tags")))
    experiment_id = ctx.client.create_experiment(
        name, ctx.stored_location(location) if location else None, tags
    )
    return {"experiment_id": experiment_id}


def _get(ctx: ServerContext, params: Params) -> dict[str, Any]:
    experiment = ctx.client.get_experiment(params.required("experiment_id"))
    return {"experiment": experiment_json(experiment, ctx.client_uri)}


def _get_by_name(ctx: ServerContext, params: Params) -> dict[str, Any]:
    name = params.required("experiment_name")
    experiment = ctx.client.get_experiment_by_name(name)
    if experiment is None:
        raise NotFoundError(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(experiment, ctx.client_uri)}


def _search(ctx: ServerContext, params: Params) -> dict[str, Any]:
    found = ctx.client.search_experiments(
        view_type=view_type(params, "view_type"),
        max_results=max_results(params, 1000),
        filter_string=params.optional_string("filter") or None,
        order_by=params.string_list("order_by") or None,
        page_token=params.optional_string("page_token") or None,
    )
    body: dict[str, Any] = {"experiments": [experiment_json(e, ctx.client_uri) for e in found]}
    if found.token:
        body["next_page_token"] = found.token
    return body


def _delete(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.delete_experiment(params.required("experiment_id"))
    return {}


def _restore(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.restore_experiment(params.required("experiment_id"))
    return {}


def _update(ctx: ServerContext, params: Params) -> dict[str, Any]:
    experiment_id = params.required("experiment_id")
    new_name = params.required("new_name")
    ctx.client.rename_experiment(experiment_id, new_name)
    return {}


def _set_tag(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.set_experiment_tag(
        params.required("experiment_id"), params.required("key"), params.string("value", "")
    )
    return {}


def _delete_tag(ctx: ServerContext, params: Params) -> dict[str, Any]:
    ctx.client.delete_experiment_tag(params.required("experiment_id"), params.required("key"))
    return {}


EXPERIMENT_ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("/experiments/create", ("POST",), _create),
    ("/experiments/get", ("GET",), _get),
    ("/experiments/get-by-name", ("GET",), _get_by_name),
    ("/experiments/search", ("GET", "POST"), _search),
    ("/experiments/list", ("GET",), _search),  # MLflow 1.x clients
    ("/experiments/delete", ("POST",), _delete),
    ("/experiments/restore", ("POST",), _restore),
    ("/experiments/update", ("POST",), _update),
    ("/experiments/set-experiment-tag", ("POST",), _set_tag),
    ("/experiments/delete-experiment-tag", ("POST",), _delete_tag),
]
