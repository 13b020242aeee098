"""One rule on SQLite and PostgreSQL for text no store can keep, and for big filters (issue 10).

Before: a NUL was stored by SQLite and refused with a StoreError by PostgreSQL, and a filter of
100+ clauses hit SQLite's 64-table join limit. Now the tracking API refuses NUL and lone
surrogates with the same InvalidInputError on both, before writing, and filters of up to 1,000
clauses work on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import spanrun
from spanrun.core.entities import Metric, Param, RunTag, ViewType
from spanrun.errors import InvalidFilterError, InvalidInputError
from spanrun.store import SqlAlchemyStore


@pytest.fixture
def tracking(db_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fluent API on this backend (artifacts, if any, under tmp_path)."""
    monkeypatch.chdir(tmp_path)
    spanrun.set_tracking_uri(db_uri)
    yield db_uri


BAD_CALLS: dict[str, Callable[[str], Any]] = {
    "param value": lambda bad: spanrun.log_param("p", bad),
    "param key": lambda bad: spanrun.log_param(f"k{bad}", "v"),
    "params": lambda bad: spanrun.log_params({"a": "fine", "b": bad}),
    "tag value": lambda bad: spanrun.set_tag("t", bad),
    "tags": lambda bad: spanrun.set_tags({"a": "fine", "b": bad}),
    "metric key": lambda bad: spanrun.log_metric(f"m{bad}", 1.0),
    "experiment tag": lambda bad: spanrun.set_experiment_tag("t", bad),
    "nested run name": lambda bad: spanrun.start_run(run_name=bad, nested=True),
    "nested run description": lambda bad: spanrun.start_run(description=bad, nested=True),
    "experiment name": lambda bad: spanrun.create_experiment(bad),
    "rename experiment": lambda bad: spanrun.rename_experiment("0", f"x{bad}"),
}


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"], ids=["NUL", "surrogate"])
@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_nul_and_surrogates_are_refused_the_same_on_both_stores(
    tracking: str, name: str, bad: str
) -> None:
    with spanrun.start_run() as run:
        spanrun.log_param("kept", "value")
        before = spanrun.get_run(run.info.run_id).data
        experiments = [(e.name, e.tags) for e in spanrun.search_experiments(ViewType.ALL)]
        with pytest.raises(InvalidInputError, match=r"NUL character|lone surrogate") as info:
            BAD_CALLS[name](bad)
        assert type(info.value) is InvalidInputError  # not a StoreError from the driver
    after = spanrun.get_run(run.info.run_id).data
    assert (after.params, after.metrics) == (before.params, before.metrics)
    assert [(e.name, e.tags) for e in spanrun.search_experiments(ViewType.ALL)] == experiments
    runs = spanrun.search_runs(run_view_type=ViewType.ALL, output_format="list")
    assert [r.info.run_id for r in runs] == [run.info.run_id]


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"], ids=["NUL", "surrogate"])
def test_filters_with_nul_or_surrogates_are_invalid_on_both_stores(
    store: SqlAlchemyStore, bad: str
) -> None:
    exp = store.create_experiment("e")
    for call in [
        lambda: store.search_runs([exp], f"params.p = '{bad}'"),
        lambda: store.search_runs([exp], f"tags.t IN ('x', '{bad}')"),
        lambda: store.search_runs([exp], "", order_by=[f"params.`{bad}`"]),
        lambda: store.search_experiments(filter_string=f"name LIKE '{bad}%'"),
    ]:
        with pytest.raises(InvalidFilterError, match=r"NUL character|lone surrogate"):
            call()


def _runs(store: SqlAlchemyStore) -> tuple[str, str]:
    """An experiment with a run matching every clause of _filter(), and one that does not."""
    exp = store.create_experiment("many")
    ids = []
    for missing in (None, 49):
        run_id = store.create_run(exp, "u", 0, [], None).info.run_id
        keys = [i for i in range(50) if i != missing]
        store.log_batch(
            run_id,
            metrics=[Metric(f"m{i}", float(i), 0, 0) for i in keys],
            params=[Param(f"p{i}", str(i)) for i in keys],
            tags=[RunTag(f"t{i}", "on") for i in keys],
        )
        ids.append(run_id)
    return exp, ids[0]


def _filter(clauses: int) -> str:
    kinds = ["params.p{i} = '{i}'", "metrics.m{i} >= {i}", "tags.t{i} LIKE 'o%'"]
    return " and ".join(kinds[n % 3].format(i=n % 50) for n in range(clauses))


@pytest.mark.parametrize("clauses", [1, 9, 100, 300, 600])
def test_filters_with_many_clauses_work_on_both_stores(
    store: SqlAlchemyStore, clauses: int
) -> None:
    exp, wanted = _runs(store)
    found = store.search_runs([exp], _filter(clauses), order_by=["metrics.m1 DESC"])
    if clauses < 50:  # the other run lacks only the keys numbered 49
        assert len(found) == 2
    else:
        assert [r.info.run_id for r in found] == [wanted]


def test_experiment_filters_with_many_clauses_work_on_both_stores(store: SqlAlchemyStore) -> None:
    wanted = store.create_experiment("tagged", tags=[RunTag(f"t{i}", "on") for i in range(20)])
    store.create_experiment("other", tags=[RunTag(f"t{i}", "on") for i in range(19)])
    filter_string = " and ".join(f"tags.t{i % 20} = 'on'" for i in range(300))
    found = store.search_experiments(filter_string=filter_string)
    assert [e.experiment_id for e in found] == [wanted]


def test_the_clause_limit_is_the_same_on_both_stores(store: SqlAlchemyStore) -> None:
    exp, wanted = _runs(store)
    assert [r.info.run_id for r in store.search_runs([exp], _filter(1000))] == [wanted]
    with pytest.raises(InvalidFilterError, match="at most 1000"):
        store.search_runs([exp], _filter(1001))


@pytest.mark.parametrize("max_results", [-1, 0, 50_001, True])
def test_max_results_out_of_range_is_refused_on_both_stores(
    store: SqlAlchemyStore, max_results: int
) -> None:
    with pytest.raises(InvalidInputError, match="max_results"):
        store.search_runs(["0"], max_results=max_results)
    with pytest.raises(InvalidInputError, match="max_results"):
        store.search_experiments(max_results=max_results)


@pytest.mark.parametrize("op", ["LIKE", "ILIKE"])
def test_a_backslash_in_a_like_pattern_is_itself_on_both_stores(
    store: SqlAlchemyStore, op: str
) -> None:
    # PostgreSQL took it as an escape character: 'a\' was a StoreError there, fine on SQLite.
    exp = store.create_experiment("like")
    ids = {}
    for value in ["a\\", "a\\b%", "ab"]:
        run_id = store.create_run(exp, "u", 0, [RunTag("t", value)], None).info.run_id
        store.log_batch(run_id, params=[Param("p", value)])
        ids[value] = run_id
    for prefix in ("params.p", "tags.t"):
        for pattern, wanted in [
            ("a\\", ["a\\"]),
            ("a\\%", ["a\\", "a\\b%"]),
            ("a_", ["a\\", "ab"]),
        ]:
            found = store.search_runs([exp], f"{prefix} {op} '{pattern}'")
            assert sorted(r.info.run_id for r in found) == sorted(ids[v] for v in wanted)
