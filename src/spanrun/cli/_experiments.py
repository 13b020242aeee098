"""``spanrun experiments``: create, list, rename, delete, restore."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from spanrun.cli._context import SpanrunGroup, get_client, json_option, pick_ids
from spanrun.cli._output import echo_json, echo_table, format_time
from spanrun.core.entities import Experiment, ViewType

__all__ = ["experiments"]

F = TypeVar("F", bound=Callable[..., Any])

VIEW_CHOICES = {
    "active": ViewType.ACTIVE_ONLY,
    "deleted": ViewType.DELETED_ONLY,
    "all": ViewType.ALL,
}


def view_option(function: F) -> F:
    """``--view active|deleted|all``."""
    return click.option(
        "--view",
        type=click.Choice(list(VIEW_CHOICES)),
        default="active",
        show_default=True,
        help="Which lifecycle stage to show.",
    )(function)


def _experiment_id_args(function: F) -> F:
    function = click.option(
        "--experiment-id", "-x", "id_option", metavar="ID", help="Same as the argument."
    )(function)
    return click.argument("experiment_ids", nargs=-1, metavar="EXPERIMENT_ID...")(function)


def _show(experiment: Experiment, as_json: bool, message: str) -> None:
    if as_json:
        echo_json(experiment)
    else:
        click.echo(message)


@click.group(cls=SpanrunGroup)
def experiments() -> None:
    """Create, list, rename, delete and restore experiments."""


@experiments.command("create")
@click.argument("name", required=False)
@click.option("--experiment-name", "-n", "name_option", metavar="NAME", help="Same as NAME.")
@click.option("--artifact-location", "-l", metavar="URI", help="Where its runs keep artifacts.")
@json_option
def create(
    name: str | None, name_option: str | None, artifact_location: str | None, as_json: bool
) -> None:
    """Create an experiment and print its id."""
    if name and name_option and name != name_option:
        raise click.UsageError("Give the experiment name once.")
    name = name or name_option
    if not name:
        raise click.UsageError("Give the experiment name (argument or --experiment-name).")
    client = get_client()
    experiment_id = client.create_experiment(name, artifact_location=artifact_location)
    _show(
        client.get_experiment(experiment_id),
        as_json,
        f"Created experiment {name!r} with id {experiment_id}",
    )


@experiments.command("list")
@view_option
@click.option("--max-results", type=click.IntRange(min=1), default=1000, show_default=True)
@json_option
def list_(view: str, max_results: int, as_json: bool) -> None:
    """List experiments."""
    client = get_client()
    found: list[Experiment] = []
    token = None
    while len(found) < max_results:
        page = client.search_experiments(
            view_type=VIEW_CHOICES[view], max_results=max_results - len(found), page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            break
    if as_json:
        echo_json(found)
        return
    echo_table(
        ["ID", "Name", "Stage", "Created", "Artifact location"],
        [
            (
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                format_time(e.creation_time),
                e.artifact_location,
            )
            for e in found
        ],
        empty="No experiments.",
    )


@experiments.command("rename")
@click.argument("experiment_id", required=False)
@click.argument("new_name", required=False)
@click.option("--experiment-id", "-x", "id_option", metavar="ID", help="Same as EXPERIMENT_ID.")
@click.option("--new-name", "name_option", metavar="NAME", help="Same as NEW_NAME.")
@json_option
def rename(
    experiment_id: str | None,
    new_name: str | None,
    id_option: str | None,
    name_option: str | None,
    as_json: bool,
) -> None:
    """Rename an experiment."""
    if id_option and experiment_id and not new_name:
        # `rename -x ID NAME`: the one positional is the name.
        new_name, experiment_id = experiment_id, None
    ids = pick_ids([experiment_id] if experiment_id else [], id_option, "experiment")
    if len(ids) != 1:
        raise click.UsageError("Give one experiment id.")
    name = new_name or name_option
    if not name:
        raise click.UsageError("Give the new name (argument or --new-name).")
    client = get_client()
    client.rename_experiment(ids[0], name)
    _show(client.get_experiment(ids[0]), as_json, f"Renamed experiment {ids[0]} to {name!r}")


@experiments.command("delete")
@_experiment_id_args
@json_option
def delete(experiment_ids: tuple[str, ...], id_option: str | None, as_json: bool) -> None:
    """Mark experiments (and their runs) deleted; `restore` undoes it."""
    _set_stage(experiment_ids, id_option, as_json, delete=True)


@experiments.command("restore")
@_experiment_id_args
@json_option
def restore(experiment_ids: tuple[str, ...], id_option: str | None, as_json: bool) -> None:
    """Restore deleted experiments."""
    _set_stage(experiment_ids, id_option, as_json, delete=False)


def _set_stage(
    experiment_ids: tuple[str, ...], id_option: str | None, as_json: bool, *, delete: bool
) -> None:
    client = get_client()
    done = []
    for experiment_id in pick_ids(experiment_ids, id_option, "experiment"):
        if delete:
            client.delete_experiment(experiment_id)
        else:
            client.restore_experiment(experiment_id)
        done.append(client.get_experiment(experiment_id))
        if not as_json:
            click.echo(f"{'Deleted' if delete else 'Restored'} experiment {experiment_id}")
    if as_json:
        echo_json(done)
