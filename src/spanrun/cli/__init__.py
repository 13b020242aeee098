"""The ``spanrun`` command line.

Command groups are registered in ``COMMANDS`` as ``"name": "module:attribute"`` and imported
only when used; add a group by adding one line (or call :func:`register_command`).
"""

from __future__ import annotations

import click

from spanrun.cli._context import LazyGroup

__all__ = ["COMMANDS", "main", "register_command"]

COMMANDS: dict[str, str] = {
    "artifacts": "spanrun.cli._artifacts:artifacts",
    "experiments": "spanrun.cli._experiments:experiments",
    "predictions": "spanrun.cli._predictions:predictions",
    "runs": "spanrun.cli._runs:runs",
    "server": "spanrun.cli._server:server",
    "traces": "spanrun.cli._traces:traces",
    "ui": "spanrun.cli._server:ui",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"max_content_width": 100})
@click.option(
    "--tracking-uri",
    envvar="SPANRUN_TRACKING_URI",
    metavar="URI",
    help="Tracking store (sqlite:///..., postgresql://..., http://..., or a directory). "
    "Default: $SPANRUN_TRACKING_URI, else ./spanrun.db.",
)
@click.version_option(package_name="spanrun", prog_name="spanrun")
def main(tracking_uri: str | None) -> None:
    """spanrun: track LLM work in MLflow-style runs."""


def register_command(name: str, target: str) -> None:
    """Add the command group ``target`` (``"module:attribute"``) as ``spanrun <name>``."""
    main.lazy_commands[name] = target
