"""The experiments list and an experiment's runs table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from spanrun.core.entities import Experiment, PagedList, Run, ViewType
from spanrun.core.vocabulary import PARENT_RUN_TAG
from spanrun.errors import InvalidFilterError, InvalidInputError
from spanrun.store import Store
from spanrun.ui._http import int_param
from spanrun.ui._queries import (
    ExperimentKeys,
    experiment_keys,
    order_clause,
    string_literal,
)
from spanrun.ui._render import page

__all__ = ["experiments_page", "runs_page"]

#: Columns shown when the user has not chosen any, when the experiment has them.
DEFAULT_COLUMNS = (
    "param:llm.model",
    "metric:llm.calls",
    "metric:llm.cumulative_input_tokens",
    "metric:llm.cumulative_output_tokens",
    "metric:llm.latency_ms",
    "metric:llm.cumulative_cost_usd",
)
ATTRIBUTE_SORTS = ("run_name", "status", "start_time", "end_time", "user_id")
EXPERIMENTS_COUNT_CAP = 1000
RUNS_COUNT_CAP = 10_000


def experiments_page(store: Store, request: Request) -> Response:
    """Active experiments, newest activity first, searched by name (``?q=``)."""
    search = request.query_params.get("q", "").strip()
    filter_string = f"name ILIKE {string_literal('%' + search + '%')}" if search else None
    experiments = store.search_experiments(
        ViewType.ACTIVE_ONLY, 1000, filter_string, ["last_update_time DESC"]
    )
    return page(
        "experiments.html",
        title="Experiments",
        experiments=experiments,
        search=search,
        count_cap=EXPERIMENTS_COUNT_CAP,
    )


@dataclass(frozen=True)
class RunRow:
    """A run of the table, indented under its parent when the parent is on the same page."""

    run: Run
    depth: int
    parent_id: str | None
    parent_on_page: bool


def group_nested(runs: Sequence[Run]) -> list[RunRow]:
    """Runs in page order, each child right after its parent (at any depth)."""
    by_id = {r.info.run_id: r for r in runs}
    children: dict[str, list[Run]] = {}
    roots: list[Run] = []
    for run in runs:
        parent = run.data.tags.get(PARENT_RUN_TAG)
        if parent and parent in by_id and parent != run.info.run_id:
            children.setdefault(parent, []).append(run)
        else:
            roots.append(run)
    out: list[RunRow] = []
    seen: set[str] = set()

    def visit(run: Run, depth: int) -> None:
        if run.info.run_id in seen:  # a parent cycle in hand-written tags
            return
        seen.add(run.info.run_id)
        parent = run.data.tags.get(PARENT_RUN_TAG)
        out.append(RunRow(run, depth, parent, parent in by_id if parent else False))
        for child in children.get(run.info.run_id, ()):
            visit(child, depth + 1)

    for run in roots:
        visit(run, 0)
    for run in runs:  # only runs caught in a cycle are left
        if run.info.run_id not in seen:
            visit(run, 0)
    return out


def _default_columns(keys: ExperimentKeys) -> list[str]:
    present = {f"param:{k}" for k in keys.params} | {f"metric:{k}" for k in keys.metrics}
    chosen = [c for c in DEFAULT_COLUMNS if c in present]
    if chosen:
        return chosen
    return [f"param:{k}" for k in keys.params[:3]] + [f"metric:{k}" for k in keys.metrics[:3]]


def _column_ok(column: str) -> bool:
    kind, sep, key = column.partition(":")
    if not sep or not key:
        return False
    if kind == "attr":
        return key in ATTRIBUTE_SORTS
    return kind in ("param", "metric", "tag")


def runs_page(store: Store, request: Request, experiment_id: str) -> Response:
    """One page of an experiment's runs: ``filter``, ``sort``/``dir``, ``n``, ``page_token`` and
    ``prev`` (the tokens of the pages before), ``cols``/``col`` (the chosen columns)."""
    experiment: Experiment = store.get_experiment(experiment_id)
    q = request.query_params
    filter_string = q.get("filter", "")
    sort = q.get("sort", "attr:start_time")
    if not _column_ok(sort):
        raise InvalidInputError(f"Cannot sort by {sort!r}")
    ascending = q.get("dir", "desc") == "asc"
    size = int_param(request, "n", 50, 1, 500)
    token = q.get("page_token") or None
    previous = q.getlist("prev")
    error: str | None = None
    try:
        runs = store.search_runs(
            [experiment_id],
            filter_string,
            ViewType.ACTIVE_ONLY,
            size,
            [order_clause(sort, ascending), "attributes.start_time DESC"],
            token,
        )
    except InvalidFilterError as exc:
        error = str(exc)
        runs = PagedList([], None)
    keys = experiment_keys(store, experiment_id, runs)
    chosen = [c for c in q.getlist("col") if _column_ok(c)]
    columns = chosen if "cols" in q else _default_columns(keys)
    state = {
        "filter": filter_string,
        "sort": sort,
        "dir": "asc" if ascending else "desc",
        "n": size,
        "cols": "1",
        "col": columns,
    }
    return page(
        "runs.html",
        title=experiment.name,
        experiment=experiment,
        rows=group_nested(runs),
        columns=columns,
        keys=keys,
        state=state,
        error=error,
        count_cap=RUNS_COUNT_CAP,
        token=token,
        next_token=runs.token,
        previous=previous,
        offset_pages=len(previous) + (1 if token else 0),
        size=size,
        attribute_sorts=ATTRIBUTE_SORTS,
    )
