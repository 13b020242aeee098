"""``spanrun traces``: list traces and show one as a span tree."""

from __future__ import annotations

import json
from typing import Any

import click

from spanrun.cli._context import SpanrunGroup, get_client, json_option
from spanrun.cli._output import echo_json, echo_table, format_time
from spanrun.core.entities import SpanRecord, Trace

__all__ = ["traces"]

# Attributes worth a line under a span in the tree view, in this order.
_SHOWN_ATTRIBUTES = (
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.response.finish_reasons",
    "error.type",
)
_MAX_CONTENT = 200


@click.group(cls=SpanrunGroup)
def traces() -> None:
    """List traces and show their span trees."""


@traces.command("list")
@click.option("--run-id", "-r", default=None, metavar="ID", help="Only the traces of this run.")
@click.option(
    "--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID", help="Repeatable."
)
@click.option("--max-results", "-m", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
def list_(
    run_id: str | None, experiment_ids: tuple[str, ...], max_results: int, as_json: bool
) -> None:
    """List traces, newest first."""
    found = get_client().search_traces(
        list(experiment_ids) or None, run_id=run_id, max_results=max_results
    )
    if as_json:
        echo_json(list(found))
        return
    echo_table(
        ["Trace ID", "Name", "Run ID", "Status", "Started", "Spans", "Duration"],
        [
            (
                t.trace_id,
                t.name,
                t.run_id or "-",
                t.status,
                format_time(t.start_time_ns // 1_000_000),
                t.span_count,
                _duration(t.start_time_ns, t.end_time_ns),
            )
            for t in found
        ],
        empty="No traces.",
    )


@traces.command("show")
@click.argument("trace_id")
@click.option("--content/--no-content", default=True, help="Show prompts and outputs.")
@json_option
def show(trace_id: str, content: bool, as_json: bool) -> None:
    """Show one trace as a tree of spans with timings, tokens and (shortened) content."""
    trace = get_client().get_trace(trace_id)
    if as_json:
        echo_json(trace)
        return
    info = trace.info
    click.echo(f"Trace {info.trace_id}  run {info.run_id or '-'}  status {info.status}")
    for root in sorted(trace.root_spans, key=lambda s: s.start_time_ns):
        _echo_tree(trace, root, depth=0, content=content)


def _echo_tree(trace: Trace, span: SpanRecord, depth: int, content: bool) -> None:
    pad = "  " * depth
    status = " ERROR" if span.status_code == "ERROR" else ""
    click.echo(f"{pad}- {span.name}  [{_duration(span.start_time_ns, span.end_time_ns)}]{status}")
    for key in _SHOWN_ATTRIBUTES:
        if key in span.attributes:
            click.echo(f"{pad}    {key} = {span.attributes[key]}")
    if content:
        for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
            if key in span.attributes:
                click.echo(f"{pad}    {key} = {_shorten(span.attributes[key])}")
    for child in trace.children(span.span_id):
        _echo_tree(trace, child, depth + 1, content)


def _duration(start_ns: int, end_ns: int) -> str:
    ms = max(0, end_ns - start_ns) / 1e6
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _shorten(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())  # one line per attribute, whatever the content holds
    return text if len(text) <= _MAX_CONTENT else text[: _MAX_CONTENT - 1] + "…"
