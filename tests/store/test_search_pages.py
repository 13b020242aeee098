"""search_runs pages on SQLite and PostgreSQL: MLflow's order over runs that lack the key, NaN
and ties (start_time DESC, then run_id), page tokens across ties, one statement per search,
and every run of a page loaded with its data (beyond one load statement's 250 runs)."""

from __future__ import annotations

import math

import pytest

from spanrun.core.entities import Metric, Param, RunTag, ViewType
from spanrun.store import SqlAlchemyStore
from spanrun.store._search_filter import parse_filter, parse_order_by
from spanrun.store._search_sql import run_search_query

# (metric m, param p) per run; None: the run lacks it. Start times repeat (ties).
_SPEC: list[tuple[float | None, str | None]] = [
    (1.0, "b"),
    (2.0, "a"),
    (2.0, None),
    (math.nan, "a"),
    (None, "c"),
    (math.inf, "b"),
    (-math.inf, None),
    (2.0, "a"),
    (None, None),
    (0.5, "c"),
    (math.nan, "b"),
    (1.0, "a"),
]


@pytest.fixture
def spec_runs(
    store: SqlAlchemyStore,
) -> tuple[str, list[tuple[str, int, float | None, str | None]]]:
    experiment_id = store.create_experiment("pages")
    runs = []
    for i, (metric, param) in enumerate(_SPEC):
        start = 100 * (i % 3)
        run_id = store.create_run(experiment_id, "u", start, [], f"r{i}").info.run_id
        store.log_batch(
            run_id,
            metrics=[] if metric is None else [Metric("m", metric, 0)],
            params=[] if param is None else [Param("p", param)],
        )
        runs.append((run_id, start, metric, param))
    return experiment_id, runs


def _all_pages(
    store: SqlAlchemyStore, experiment_id: str, order_by: list[str], size: int
) -> tuple[list[str], int]:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.search_runs(
            [experiment_id], max_results=size, order_by=order_by, page_token=token
        )
        pages += 1
        seen += [r.info.run_id for r in page]
        token = page.token
        if token is None:
            return seen, pages


@pytest.mark.parametrize("descending", [True, False])
def test_metric_order_across_pages(
    store: SqlAlchemyStore,
    spec_runs: tuple[str, list[tuple[str, int, float | None, str | None]]],
    descending: bool,
) -> None:
    """Numbers (infinities included), then NaN, then runs without the metric; ties by
    start_time DESC, then run_id; pages of 5 put together are the one ordered list."""
    experiment_id, runs = spec_runs

    def key(run: tuple[str, int, float | None, str | None]) -> tuple[int, float, int, str]:
        run_id, start, value, _ = run
        group = 2 if value is None else 1 if math.isnan(value) else 0
        number = 0.0 if group else (-value if descending else value)  # type: ignore[operator]
        return group, number, -start, run_id

    expected = [run[0] for run in sorted(runs, key=key)]
    order = ["metrics.m DESC" if descending else "metrics.m"]
    seen, pages = _all_pages(store, experiment_id, order, 5)
    assert seen == expected and pages == 3
    whole = store.search_runs([experiment_id], max_results=100, order_by=order)
    assert [r.info.run_id for r in whole] == expected and whole.token is None


def test_param_order_across_pages_with_ties(
    store: SqlAlchemyStore,
    spec_runs: tuple[str, list[tuple[str, int, float | None, str | None]]],
) -> None:
    experiment_id, runs = spec_runs

    def key(run: tuple[str, int, float | None, str | None]) -> tuple[bool, str, int, str]:
        run_id, start, _, param = run
        return param is None, param or "", -start, run_id

    expected = [run[0] for run in sorted(runs, key=key)]
    seen, pages = _all_pages(store, experiment_id, ["params.p ASC"], 4)
    assert seen == expected and pages == 3


def test_a_search_is_built_once_for_all_its_pages(store: SqlAlchemyStore) -> None:
    args = (
        [1],
        parse_filter("metrics.m > 0.5 and params.p = 'a'"),
        ViewType.ACTIVE_ONLY,
        parse_order_by(["metrics.m DESC"]),
        store.dialect,
    )
    assert run_search_query(*args) is run_search_query(*args)
    other = run_search_query([1], args[1], ViewType.ALL, args[3], store.dialect)
    assert other is not run_search_query(*args)


def test_long_filters_are_built_each_time_and_still_match(
    store: SqlAlchemyStore,
    spec_runs: tuple[str, list[tuple[str, int, float | None, str | None]]],
) -> None:
    experiment_id, runs = spec_runs
    names = ", ".join(f"'r{i}'" for i in range(1, 200, 2))  # 100 values: not cached
    filter_string = f"attributes.run_name IN ({names}) and params.p = 'a'"
    comparisons = parse_filter(filter_string)
    built = [
        run_search_query([int(experiment_id)], comparisons, ViewType.ALL, [], store.dialect)
        for _ in range(2)
    ]
    assert built[0] is not built[1]
    found = store.search_runs([experiment_id], filter_string, order_by=["attributes.run_name"])
    expected = sorted(f"r{i}" for i, (_, _, _, p) in enumerate(runs) if p == "a" and i % 2 == 1)
    assert [r.info.run_name for r in found] == expected == ["r1", "r11", "r3", "r7"]


def test_every_run_of_a_big_page_comes_with_its_data(store: SqlAlchemyStore) -> None:
    """260 runs on one page: more than one load statement, each run with its own values."""
    experiment_id = store.create_experiment("big page")
    for i in range(260):
        run_id = store.create_run(experiment_id, "u", i, [RunTag("t", f"t{i}")], None).info.run_id
        value = math.nan if i == 7 else -math.inf if i == 8 else float(i)
        store.log_batch(
            run_id,
            metrics=[Metric("m", value, 0), Metric("n", 1.0, 0)],
            params=[Param("p", str(i))],
        )
    page = store.search_runs([experiment_id], max_results=300, order_by=["attributes.start_time"])
    assert len(page) == 260 and page.token is None
    for i, run in enumerate(page):
        assert run.info.start_time == i and run.info.experiment_id == experiment_id
        assert run.data.params == {"p": str(i)}
        assert run.data.tags["t"] == f"t{i}"
        metric = run.data.metrics["m"]
        if i == 7:
            assert math.isnan(metric)
        else:
            assert metric == (-math.inf if i == 8 else float(i))
        assert run.data.metrics["n"] == 1.0 and len(run.data.metrics) == 2


def test_sqlite_connections_keep_a_search_s_pages_cached(sqlite_store: SqlAlchemyStore) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -16 * 1024
