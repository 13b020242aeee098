"""search_runs on both backends: filter semantics, ordering, paging, view types."""

from __future__ import annotations

import pytest

from spanrun.core.entities import Metric, Param, RunStatus, RunTag, ViewType
from spanrun.errors import InvalidFilterError, InvalidInputError
from spanrun.store import SqlAlchemyStore


@pytest.fixture
def runs(store: SqlAlchemyStore) -> dict[str, str]:
    """Five runs in one experiment; returns name -> run_id. 'e' has no metrics or params."""
    exp_id = store.create_experiment("search")
    spec = {
        "a": (0.9, "gpt-4o", "nlp", 100),
        "b": (0.5, "gpt-4o-mini", "NLP-core", 200),
        "c": (0.7, "claude", "cv", 300),
        "d": (float("nan"), "gpt-4o", "nlp", 400),
    }
    ids = {}
    for name, (acc, model, team, start) in spec.items():
        run_id = store.create_run(exp_id, "u", start, [RunTag("team", team)], name).info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric("acc", acc, start), Metric("my metric", start / 100, start)],
            params=[Param("model", model), Param("lr", str(start / 1000))],
        )
        ids[name] = run_id
    ids["e"] = store.create_run(exp_id, "bob", 500, [], "e").info.run_id
    store.update_run_info(ids["a"], status=RunStatus.FINISHED, end_time=150)
    ids["exp"] = exp_id
    return ids


def _names(store: SqlAlchemyStore, runs: dict[str, str], filter_string: str = "", **kw) -> list:
    found = store.search_runs([runs["exp"]], filter_string, **kw)
    return [r.info.run_name for r in found]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", ["e", "d", "c", "b", "a"]),
        ("metrics.acc > 0.6", ["c", "a"]),
        ("metrics.acc >= 0.7", ["c", "a"]),
        ("metrics.acc < 0.7", ["b"]),  # NaN matches no comparison
        ("metrics.acc <= 0.7", ["c", "b"]),
        ("metrics.acc = 0.5", ["b"]),
        ("metrics.acc != 0.5", ["c", "a"]),
        ("metrics.`my metric` > 2.5", ["d", "c"]),
        ("params.model = 'gpt-4o'", ["d", "a"]),
        ("params.model != 'gpt-4o'", ["c", "b"]),  # runs without the param never match
        ("params.model LIKE 'gpt%'", ["d", "b", "a"]),
        ("params.model LIKE 'GPT%'", []),  # LIKE is case-sensitive on every backend
        ("params.model ILIKE 'GPT%'", ["d", "b", "a"]),
        ("params.model LIKE 'gpt-4o-_ini'", ["b"]),
        ("params.model IN ('claude', 'gpt-4o-mini')", ["c", "b"]),
        ("params.model NOT IN ('claude', 'gpt-4o-mini')", ["d", "a"]),
        ("tags.team = 'nlp'", ["d", "a"]),
        ("tags.team ILIKE 'nlp%'", ["d", "b", "a"]),
        ("tags.team LIKE 'nlp%'", ["d", "a"]),
        ("tags.mlflow.runName = 'c'", ["c"]),
        ("attributes.status = 'FINISHED'", ["a"]),
        ("attributes.status != 'FINISHED'", ["e", "d", "c", "b"]),
        ("attributes.run_name IN ('a', 'e')", ["e", "a"]),
        ("attributes.user_id = 'bob'", ["e"]),
        ("attributes.start_time >= 300", ["e", "d", "c"]),
        ("attributes.end_time > 0", ["a"]),
        ("attributes.lifecycle_stage = 'active'", ["e", "d", "c", "b", "a"]),
        ("attributes.artifact_uri LIKE '%artifacts'", ["e", "d", "c", "b", "a"]),
        ("metrics.acc > 0.6 and params.model = 'gpt-4o' and tags.team = 'nlp'", ["a"]),
        ("metrics.acc > 0.6 AND params.model LIKE 'c%'", ["c"]),
        ("params.model = 'x'' OR ''1''=''1'", []),
        ("params.model = 'gpt-4o'' --'", []),
        ("tags.team LIKE '%'' OR 1=1 --'", []),
    ],
)
def test_filters(
    store: SqlAlchemyStore, runs: dict[str, str], filter_string: str, expected: list[str]
) -> None:
    assert _names(store, runs, filter_string) == expected


def test_filter_by_run_id(store: SqlAlchemyStore, runs: dict[str, str]) -> None:
    assert _names(store, runs, f"attributes.run_id = '{runs['b']}'") == ["b"]
    ids = f"('{runs['b']}', '{runs['c']}')"
    assert _names(store, runs, f"run.run_id IN {ids}") == ["c", "b"]


def test_run_data_is_loaded(store: SqlAlchemyStore, runs: dict[str, str]) -> None:
    (run,) = store.search_runs([runs["exp"]], "attributes.run_name = 'c'")
    assert run.info.run_id == runs["c"]
    assert run.data.metrics == {"acc": 0.7, "my metric": 3.0}
    assert run.data.params == {"model": "claude", "lr": "0.3"}
    assert run.data.tags == {"team": "cv", "mlflow.runName": "c"}


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.acc DESC"], ["a", "c", "b", "d", "e"]),  # NaN and missing last
        (["metrics.acc"], ["b", "c", "a", "d", "e"]),
        (["params.model", "attributes.start_time DESC"], ["c", "d", "a", "b", "e"]),
        (["attributes.start_time ASC"], ["a", "b", "c", "d", "e"]),
        (["attributes.run_name DESC"], ["e", "d", "c", "b", "a"]),
        (["tags.team"], ["b", "c", "d", "a", "e"]),
        (["metrics.`my metric` DESC"], ["d", "c", "b", "a", "e"]),
    ],
)
def test_order_by(
    store: SqlAlchemyStore, runs: dict[str, str], order_by: list[str], expected: list[str]
) -> None:
    assert _names(store, runs, order_by=order_by) == expected


def test_paging(store: SqlAlchemyStore, runs: dict[str, str]) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.search_runs(
            [runs["exp"]], max_results=2, order_by=["attributes.start_time"], page_token=token
        )
        seen += [r.info.run_name for r in page]
        pages += 1
        token = page.token
        if token is None:
            break
    assert seen == ["a", "b", "c", "d", "e"] and pages == 3
    exact = store.search_runs([runs["exp"]], max_results=5)
    assert len(exact) == 5 and exact.token is None


def test_view_types(store: SqlAlchemyStore, runs: dict[str, str]) -> None:
    store.delete_run(runs["b"])
    assert "b" not in _names(store, runs)
    assert _names(store, runs, run_view_type=ViewType.DELETED_ONLY) == ["b"]
    assert len(_names(store, runs, run_view_type=ViewType.ALL)) == 5
    assert _names(store, runs, "attributes.lifecycle_stage = 'deleted'") == []


def test_several_and_unknown_experiments(store: SqlAlchemyStore, runs: dict[str, str]) -> None:
    other = store.create_experiment("other")
    store.create_run(other, "u", 999, [], "z")
    found = store.search_runs([runs["exp"], other, "12345", "not-an-id"])
    assert [r.info.run_name for r in found][:2] == ["z", "e"] and len(found) == 6
    assert list(store.search_runs(["12345"])) == []
    assert list(store.search_runs([])) == []


def test_invalid_arguments(store: SqlAlchemyStore, runs: dict[str, str]) -> None:
    with pytest.raises(InvalidFilterError) as info:
        store.search_runs([runs["exp"]], "metrics.acc >")
    assert info.value.position == 13
    with pytest.raises(InvalidFilterError):
        store.search_runs([runs["exp"]], order_by=["metrics.acc sideways"])
    with pytest.raises(InvalidInputError):
        store.search_runs([runs["exp"]], max_results=0)
    with pytest.raises(InvalidInputError):
        store.search_runs([runs["exp"]], page_token="%%%")
    with pytest.raises(InvalidInputError):
        store.search_runs([runs["exp"]], run_view_type=7)  # type: ignore[arg-type]


def test_odd_order_keys_stay_data(store: SqlAlchemyStore, runs: dict[str, str]) -> None:
    odd = ["metrics.`x; DROP TABLE runs; --` DESC", 'params."it\'s" ASC', "tags.`%` DESC"]
    assert len(_names(store, runs, order_by=odd)) == 5
    assert _names(store, runs, "tags.`a b` = 'x' AND params.\"c'd\" = 'y'") == []
    assert len(store.search_runs([runs["exp"]])) == 5  # the runs table is still there
