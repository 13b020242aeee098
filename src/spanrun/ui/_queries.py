"""The UI's reads over the store's queries for them (``count_runs``, ``distinct_keys``) and
helpers that write search-grammar text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from spanrun.core.entities import Run, ViewType
from spanrun.store import Store

__all__ = [
    "COUNT_CAP",
    "ExperimentKeys",
    "RunCount",
    "count_runs",
    "experiment_keys",
    "order_clause",
    "quoted_key",
    "string_literal",
]

#: Runs counted per experiment before the count is shown as "at least".
COUNT_CAP = 10_000


@dataclass(frozen=True)
class RunCount:
    """How many runs match, and whether counting stopped at a cap (then ``count`` is a floor)."""

    count: int
    capped: bool
    last_start_time: int | None = None


def count_runs(
    store: Store, experiment_ids: Sequence[str], filter_string: str = "", cap: int = COUNT_CAP
) -> RunCount:
    """Count the matching runs (one query; shown as "at least ``cap``" above it) and find the
    newest start time."""
    count = store.count_runs(experiment_ids, filter_string, ViewType.ACTIVE_ONLY)
    newest_page = store.search_runs(
        experiment_ids,
        filter_string,
        ViewType.ACTIVE_ONLY,
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    newest = newest_page[0].info.start_time if newest_page else None
    return RunCount(min(count, cap), count > cap, newest)


@dataclass
class ExperimentKeys:
    """The param, metric and tag keys seen in an experiment's newest runs (sorted)."""

    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def experiment_keys(
    store: Store, experiment_id: str, extra_runs: Sequence[Run] = ()
) -> ExperimentKeys:
    """Every key of the experiment's active runs (one query per kind) and of ``extra_runs``."""
    found = store.distinct_keys([experiment_id], ViewType.ACTIVE_ONLY)
    params = set(found.params)
    metrics = set(found.metrics)
    tags = set(found.tags)
    for run in extra_runs:
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
