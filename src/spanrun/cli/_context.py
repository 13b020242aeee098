"""What every command shares: the tracking client, error translation, common options."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from spanrun.errors import SpanrunError

if TYPE_CHECKING:
    from spanrun.tracking.client import SpanrunClient

__all__ = ["LazyGroup", "SpanrunGroup", "get_client", "json_option", "pick_ids"]

F = TypeVar("F", bound=Callable[..., Any])


class SpanrunGroup(click.Group):
    """A group whose commands report spanrun errors (and file-system errors naming a path) as
    one-line messages, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpanrunError as exc:
            raise click.ClickException(exc.message) from None
        except OSError as exc:  # the environment (paths, permissions), not a bug: no traceback
            if exc.filename is None:
                raise
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename}") from None


class LazyGroup(SpanrunGroup):
    """Subcommands named as ``"module:attribute"`` and imported on first use.

    Keeps ``spanrun --help`` fast and lets a command group need optional extras.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = lazy_commands if lazy_commands is not None else {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


def get_client() -> SpanrunClient:
    """The client for the ``--tracking-uri`` given to ``spanrun`` (or the usual default)."""
    from spanrun.tracking.client import SpanrunClient

    ctx = click.get_current_context()
    root = ctx.find_root()
    client = root.meta.get("spanrun.client")
    if client is None:
        client = SpanrunClient((root.params or {}).get("tracking_uri"))
        root.meta["spanrun.client"] = client
    return client


def json_option(function: F) -> F:
    """``--json``: print machine-readable JSON instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        function
    )


def pick_ids(positional: Sequence[str], option: str | None, what: str) -> list[str]:
    """Ids given as arguments and/or through MLflow's ``--<what>-id`` option."""
    ids = [*positional, *([option] if option else [])]
    if not ids:
        raise click.UsageError(f"Give a {what} id (argument or --{what}-id).")
    return list(dict.fromkeys(ids))
