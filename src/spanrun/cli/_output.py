"""Rendering CLI output: aligned text tables for people, JSON for programs."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import click

from spanrun.core.entities import Run

__all__ = [
    "echo_json",
    "echo_key_values",
    "echo_table",
    "format_duration",
    "format_time",
    "run_to_dict",
    "to_jsonable",
]

_MAX_CELL = 60


def to_jsonable(value: Any) -> Any:
    """Dataclasses (entities) as dicts, enums as their values, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        # Strict JSON has no NaN/Infinity: spelled as strings, like protobuf's JSON mapping.
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def run_to_dict(run: Run) -> dict[str, Any]:
    """MLflow's ``Run.to_dictionary()`` shape: ``{"info": {...}, "data": {metrics, params,
    tags}}``."""
    return {"info": to_jsonable(run.info), "data": to_jsonable(run.data)}


def echo_json(value: Any) -> None:
    click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False, allow_nan=False))


def format_time(ms: int | None) -> str:
    """Milliseconds since the epoch as local time, ``-`` when unknown."""
    if ms is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(ms / 1000).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start_ms: int | None, end_ms: int | None) -> str:
    if start_ms is None or end_ms is None:
        return "-"
    seconds = max(end_ms - start_ms, 0) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def _safe(text: Any, limit: int | None = _MAX_CELL) -> str:
    """One printable line: control characters (newlines, ANSI escapes) shown escaped, so
    logged content can neither break the table nor drive the terminal."""
    raw = "" if text is None else str(text)
    cleaned = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in raw
    )
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return cleaned


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def echo_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "(none)"
) -> None:
    """An aligned table with a header underline; ``empty`` when there are no rows."""
    if not rows:
        click.echo(empty)
        return
    cells = [[_safe(c) for c in row] for row in rows]
    widths = [max(_width(h), *(_width(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    click.echo("\n".join(lines))


def echo_key_values(title: str, items: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> None:
    """A titled block of ``key  value`` lines (values not cut short)."""
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    click.echo(title)
    if not pairs:
        click.echo("  (none)")
        return
    keys = [_safe(k, None) for k, _ in pairs]
    width = max(_width(k) for k in keys)
    for key, (_, value) in zip(keys, pairs, strict=True):
        click.echo(f"  {_pad(key, width)}  {_safe(value, None)}")
