"""``spanrun artifacts``: list and download a run's files."""

from __future__ import annotations

import click

from spanrun.cli._context import SpanrunGroup, get_client, json_option
from spanrun.cli._output import echo_json, echo_table

__all__ = ["artifacts"]


@click.group(cls=SpanrunGroup)
def artifacts() -> None:
    """List and download run artifacts."""


def _check_source(run_id: str | None, artifact_uri: str | None, artifact_path: str | None) -> None:
    if (run_id is None) == (artifact_uri is None):
        raise click.UsageError("Give either --run-id or --artifact-uri.")
    if artifact_uri is not None and artifact_path is not None:
        raise click.UsageError("--artifact-path goes with --run-id, not --artifact-uri.")


@artifacts.command("list")
@click.option("--run-id", "-r", metavar="ID", help="The run whose artifacts to list.")
@click.option("--artifact-path", "-a", metavar="PATH", help="A directory inside the run.")
@click.option("--artifact-uri", "-u", metavar="URI", help="runs:/<run_id>/<path>, or a file URI.")
@json_option
def list_(
    run_id: str | None, artifact_path: str | None, artifact_uri: str | None, as_json: bool
) -> None:
    """List the files and directories directly under an artifact directory."""
    from spanrun import artifacts as api

    _check_source(run_id, artifact_uri, artifact_path)
    tracking_uri = get_client().tracking_uri
    infos = api.list_artifacts(
        artifact_uri=artifact_uri,
        run_id=run_id,
        artifact_path=artifact_path,
        tracking_uri=tracking_uri,
    )
    if as_json:
        echo_json(infos)
        return
    echo_table(
        ["Path", "Size"],
        [(f.path + ("/" if f.is_dir else ""), "-" if f.is_dir else f.file_size) for f in infos],
        empty="No artifacts.",
    )


@artifacts.command("download")
@click.option("--run-id", "-r", metavar="ID", help="The run whose artifacts to download.")
@click.option("--artifact-path", "-a", metavar="PATH", help="A file or directory in the run.")
@click.option("--artifact-uri", "-u", metavar="URI", help="runs:/<run_id>/<path>, or a file URI.")
@click.option(
    "--dst-path",
    "-d",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Where to put it (created if missing). Default: a new temporary directory.",
)
@json_option
def download(
    run_id: str | None,
    artifact_path: str | None,
    artifact_uri: str | None,
    dst_path: str | None,
    as_json: bool,
) -> None:
    """Download a file or directory and print its local path."""
    from spanrun import artifacts as api

    _check_source(run_id, artifact_uri, artifact_path)
    local = api.download_artifacts(
        artifact_uri=artifact_uri,
        run_id=run_id,
        artifact_path=artifact_path,
        dst_path=dst_path,
        tracking_uri=get_client().tracking_uri,
    )
    if as_json:
        echo_json({"path": local})
    else:
        click.echo(local)
