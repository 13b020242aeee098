"""Reads the UI needs that the ``Store`` interface has no single query for yet.

Each is built from the public interface (``search_runs``, ``get_metric_history``) and bounded,
so a page stays fast at 10,000 runs; the store can later answer them in one SQL query
(run counts, an experiment's keys, a down-sampled history) without changing the pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from spanrun.core.entities import Metric, Run, ViewType
from spanrun.store import Store

__all__ = [
    "COUNT_CAP",
    "KEY_SAMPLE_RUNS",
    "ExperimentKeys",
    "RunCount",
    "count_runs",
    "downsample",
    "experiment_keys",
    "order_clause",
    "quoted_key",
    "string_literal",
]

#: Runs counted per experiment before the count is shown as "at least".
COUNT_CAP = 10_000
#: How many of an experiment's newest runs the column chooser learns keys from.
KEY_SAMPLE_RUNS = 200


@dataclass(frozen=True)
class RunCount:
    """How many runs match, and whether counting stopped at a cap (then ``count`` is a floor)."""

    count: int
    capped: bool
    last_start_time: int | None = None


def count_runs(
    store: Store, experiment_ids: Sequence[str], filter_string: str = "", cap: int = COUNT_CAP
) -> RunCount:
    """Count the matching runs (up to ``cap``) and find the newest start time."""
    count = 0
    token: str | None = None
    newest: int | None = None
    while True:
        page = store.search_runs(
            experiment_ids,
            filter_string,
            ViewType.ACTIVE_ONLY,
            max_results=min(5000, cap - count),
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        if page and newest is None:
            newest = page[0].info.start_time
        count += len(page)
        token = page.token
        if token is None:
            return RunCount(count, False, newest)
        if count >= cap:
            return RunCount(count, True, newest)


@dataclass
class ExperimentKeys:
    """The param, metric and tag keys seen in an experiment's newest runs (sorted)."""

    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def experiment_keys(
    store: Store, experiment_id: str, extra_runs: Sequence[Run] = ()
) -> ExperimentKeys:
    """Keys of the experiment's newest ``KEY_SAMPLE_RUNS`` runs and of ``extra_runs``."""
    runs = list(
        store.search_runs(
            [experiment_id],
            "",
            ViewType.ACTIVE_ONLY,
            max_results=KEY_SAMPLE_RUNS,
            order_by=["attributes.start_time DESC"],
        )
    )
    params: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    for run in [*runs, *extra_runs]:
        params.update(run.data.params)
        metrics.update(run.data.metrics)
        tags.update(run.data.tags)
    return ExperimentKeys(sorted(params), sorted(metrics), sorted(tags))


def quoted_key(key: str) -> str:
    """A key as the search grammar reads it back whatever characters it holds."""
    if "`" not in key:
        return f"`{key}`"
    return '"' + key.replace('"', '""') + '"'


def string_literal(text: str) -> str:
    """A string value of the search grammar (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def order_clause(column: str, ascending: bool) -> str:
    """An order_by clause for a runs-table column id (``attr:start_time``, ``param:lr``...)."""
    kind, _, key = column.partition(":")
    prefix = {"attr": "attributes", "param": "params", "metric": "metrics", "tag": "tags"}[kind]
    name = key if kind == "attr" else quoted_key(key)
    return f"{prefix}.{name} {'ASC' if ascending else 'DESC'}"


def downsample(history: Sequence[Metric], max_points: int) -> list[Metric]:
    """At most ``max_points`` of ``history`` keeping its shape: each bucket of consecutive
    points gives its lowest and highest value (in their order), so spikes stay visible."""
    if max_points < 2 or len(history) <= max_points:
        return list(history)
    buckets = max_points // 2
    size = len(history) / buckets
    out: list[Metric] = []
    for b in range(buckets):
        start = int(b * size)
        end = min(len(history), int((b + 1) * size)) or start + 1
        chunk = history[start:end]
        low = min(range(len(chunk)), key=lambda i: _sortable(chunk[i].value))
        high = max(range(len(chunk)), key=lambda i: _sortable(chunk[i].value))
        for i in sorted({low, high}):
            out.append(chunk[i])
    return out


def _sortable(value: float) -> float:
    return -math.inf if math.isnan(value) else value
