"""``spanrun runs``: list, describe, delete, restore."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from spanrun.cli._context import SpanrunGroup, get_client, json_option, pick_ids
from spanrun.cli._experiments import VIEW_CHOICES, view_option
from spanrun.cli._output import (
    echo_json,
    echo_key_values,
    echo_table,
    format_duration,
    format_time,
    run_to_dict,
)
from spanrun.core.entities import DatasetInput, Run, ViewType
from spanrun.core.vocabulary import DATASET_CONTEXT_TAG
from spanrun.errors import NotFoundError

__all__ = ["runs"]

F = TypeVar("F", bound=Callable[..., Any])
_PAGE_SIZE = 1000


@click.group(cls=SpanrunGroup)
def runs() -> None:
    """List, describe, delete and restore runs."""


def _experiment_ids(ids: tuple[str, ...], names: tuple[str, ...]) -> list[str]:
    client = get_client()
    chosen = list(ids)
    for name in names:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise NotFoundError(f"Experiment {name!r} does not exist.")
        chosen.append(experiment.experiment_id)
    if not chosen:  # every active experiment
        chosen = [e.experiment_id for e in client.search_experiments(ViewType.ACTIVE_ONLY)]
    return list(dict.fromkeys(chosen))


@runs.command("list")
@click.option(
    "--experiment-id",
    "-x",
    "experiment_ids",
    multiple=True,
    metavar="ID",
    help="Repeatable. Default: every active experiment.",
)
@click.option(
    "--experiment-name", "-n", "experiment_names", multiple=True, metavar="NAME", help="Repeatable."
)
@click.option(
    "--filter",
    "-f",
    "filter_string",
    default="",
    metavar="FILTER",
    help="""e.g. "metrics.acc > 0.5 and params.model = 'gpt-4o'".""",
)
@click.option(
    "--order-by",
    "-o",
    multiple=True,
    metavar="CLAUSE",
    help="Repeatable, e.g. 'metrics.acc DESC'. Default: newest first.",
)
@click.option("--max-results", "-m", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--column",
    "-c",
    "columns",
    multiple=True,
    metavar="KEY",
    help="Repeatable: an extra table column, e.g. metrics.acc, params.model, tags.team.",
)
@view_option
@json_option
def list_(
    experiment_ids: tuple[str, ...],
    experiment_names: tuple[str, ...],
    filter_string: str,
    order_by: tuple[str, ...],
    max_results: int,
    columns: tuple[str, ...],
    view: str,
    as_json: bool,
) -> None:
    """List runs matching a filter."""
    client = get_client()
    ids = _experiment_ids(experiment_ids, experiment_names)
    found: list[Run] = []
    token = None
    while ids and len(found) < max_results:
        page = client.search_runs(
            ids,
            filter_string,
            VIEW_CHOICES[view],
            min(_PAGE_SIZE, max_results - len(found)),
            list(order_by) or None,
            token,
        )
        found.extend(page)
        token = page.token
        if not token:
            break
    if as_json:
        echo_json([run_to_dict(run) for run in found])
        return
    extra = [_column_getter(c) for c in columns]
    echo_table(
        ["Run ID", "Name", "Experiment", "Status", "Started", "Duration", *columns],
        [
            (
                r.info.run_id,
                r.info.run_name,
                r.info.experiment_id,
                r.info.status,
                format_time(r.info.start_time),
                format_duration(r.info.start_time, r.info.end_time),
                *(get(r) for get in extra),
            )
            for r in found
        ],
        empty="No runs.",
    )


def _column_getter(column: str) -> Callable[[Run], Any]:
    """The value of ``metrics.<key>``, ``params.<key>`` or ``tags.<key>`` (``-`` if unset)."""
    kind, _, key = column.partition(".")
    if kind not in ("metrics", "params", "tags") or not key:
        raise click.BadParameter(
            f"{column!r}: use metrics.<key>, params.<key> or tags.<key>", param_hint="--column"
        )
    return lambda run: getattr(run.data, kind).get(key, "-")


@runs.command("describe")
@click.argument("run_id", required=False)
@click.option("--run-id", "-r", "id_option", metavar="ID", help="Same as RUN_ID.")
@json_option
def describe(run_id: str | None, id_option: str | None, as_json: bool) -> None:
    """Show a run's info, params, metrics, tags and datasets (inputs)."""
    ids = pick_ids([run_id] if run_id else [], id_option, "run")
    if len(ids) != 1:
        raise click.UsageError("Give one run id.")
    run = get_client().get_run(ids[0])
    inputs = run.inputs.dataset_inputs
    if as_json:
        # MLflow's Run.to_dictionary() has the inputs too.
        dataset_inputs = [d.to_dictionary() for d in inputs]
        echo_json({**run_to_dict(run), "inputs": {"dataset_inputs": dataset_inputs}})
        return
    info = run.info
    echo_key_values(
        "Run",
        [
            ("run_id", info.run_id),
            ("name", info.run_name),
            ("experiment_id", info.experiment_id),
            ("status", info.status),
            ("lifecycle_stage", info.lifecycle_stage),
            ("user", info.user_id),
            ("start_time", format_time(info.start_time)),
            ("end_time", format_time(info.end_time)),
            ("duration", format_duration(info.start_time, info.end_time)),
            ("artifact_uri", info.artifact_uri),
        ],
    )
    for title, values in (
        ("Params", run.data.params),
        ("Metrics", run.data.metrics),
        ("Tags", run.data.tags),
    ):
        click.echo()
        echo_key_values(title, dict(sorted(values.items())))
    click.echo()
    click.echo("Datasets")
    echo_table(
        ["name", "digest", "context", "source_type", "rows"],
        [
            (d.dataset.name, d.dataset.digest, _context(d), d.dataset.source_type, _rows(d))
            for d in inputs
        ],
    )


def _context(item: DatasetInput) -> str:
    return next((t.value for t in item.tags if t.key == DATASET_CONTEXT_TAG), "")


def _rows(item: DatasetInput) -> str:
    """The profile's ``num_rows`` (pandas datasets), else ``-``."""
    try:
        rows = json.loads(item.dataset.profile or "{}").get("num_rows")
    except (ValueError, AttributeError):
        return "-"
    return "-" if rows is None else str(rows)


def _run_id_args(function: F) -> F:
    function = click.option("--run-id", "-r", "id_option", metavar="ID", help="Same as RUN_ID.")(
        function
    )
    return click.argument("run_ids", nargs=-1, metavar="RUN_ID...")(function)


@runs.command("delete")
@_run_id_args
@json_option
def delete(run_ids: tuple[str, ...], id_option: str | None, as_json: bool) -> None:
    """Mark runs deleted; `restore` undoes it."""
    _set_stage(run_ids, id_option, as_json, delete=True)


@runs.command("restore")
@_run_id_args
@json_option
def restore(run_ids: tuple[str, ...], id_option: str | None, as_json: bool) -> None:
    """Restore deleted runs."""
    _set_stage(run_ids, id_option, as_json, delete=False)


def _set_stage(
    run_ids: tuple[str, ...], id_option: str | None, as_json: bool, *, delete: bool
) -> None:
    client = get_client()
    done = []
    for run_id in pick_ids(run_ids, id_option, "run"):
        if delete:
            client.delete_run(run_id)
        else:
            client.restore_run(run_id)
        done.append(run_to_dict(client.get_run(run_id)))
        if not as_json:
            click.echo(f"{'Deleted' if delete else 'Restored'} run {run_id}")
    if as_json:
        echo_json(done)
