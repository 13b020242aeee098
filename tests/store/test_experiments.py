"""Experiments: create, get, search, delete/restore, rename, tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from spanrun.core.entities import LifecycleStage, RunTag, ViewType
from spanrun.errors import AlreadyExistsError, InvalidInputError, InvalidStateError, NotFoundError
from spanrun.store import DEFAULT_EXPERIMENT_ID, SqlAlchemyStore


def test_default_experiment_exists(store: SqlAlchemyStore) -> None:
    exp = store.get_experiment(DEFAULT_EXPERIMENT_ID)
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == f"{store.artifact_root}/0"
    assert exp.artifact_location.startswith("file:///")
    assert store.get_experiment_by_name("Default") == exp


def test_create_and_get(store: SqlAlchemyStore, tmp_path: Path) -> None:
    exp_id = store.create_experiment("first", tags=[RunTag("team", "nlp"), RunTag("k", "v")])
    assert exp_id == "1"
    exp = store.get_experiment(exp_id)
    assert exp.name == "first"
    assert exp.tags == {"team": "nlp", "k": "v"}
    assert exp.artifact_location == (tmp_path / "artifacts").resolve().as_uri() + "/1"
    assert exp.creation_time is not None and exp.creation_time == exp.last_update_time
    assert store.create_experiment("second") == "2"


def test_explicit_artifact_location(store: SqlAlchemyStore, tmp_path: Path) -> None:
    exp_id = store.create_experiment("a", artifact_location=str(tmp_path / "elsewhere"))
    assert store.get_experiment(exp_id).artifact_location == (tmp_path / "elsewhere").as_uri()
    exp_id = store.create_experiment("b", artifact_location="s3://bucket/path/")
    assert store.get_experiment(exp_id).artifact_location == "s3://bucket/path"


def test_name_unique(store: SqlAlchemyStore) -> None:
    store.create_experiment("dup")
    with pytest.raises(AlreadyExistsError, match="dup"):
        store.create_experiment("dup")
    with pytest.raises(InvalidInputError):
        store.create_experiment("  ")


def test_missing_experiments(store: SqlAlchemyStore) -> None:
    assert store.get_experiment_by_name("nope") is None
    store.create_experiment("one")  # id 1: "\u0661" (an Arabic-Indic 1) must not find it
    for bad in ("42", "abc", "", "1; DROP TABLE runs", "99999999999999", "-1", "\u0661"):
        with pytest.raises(NotFoundError):
            store.get_experiment(bad)
    with pytest.raises(NotFoundError):
        store.delete_experiment("42")
    with pytest.raises(NotFoundError):
        store.set_experiment_tag("42", RunTag("a", "b"))


def test_delete_restore_with_runs(store: SqlAlchemyStore) -> None:
    exp_id = store.create_experiment("e")
    keep = store.create_run(exp_id, "u", 1, [], "keep").info.run_id
    gone_before = store.create_run(exp_id, "u", 2, [], "gone").info.run_id
    store.delete_run(gone_before)
    store.delete_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == LifecycleStage.DELETED
    assert store.get_run(keep).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidStateError):
        store.create_run(exp_id, "u", 3, [], None)
    with pytest.raises(InvalidStateError):
        store.rename_experiment(exp_id, "x")
    with pytest.raises(InvalidStateError):
        store.set_experiment_tag(exp_id, RunTag("a", "b"))
    with pytest.raises(InvalidStateError):
        store.restore_run(keep)
    with pytest.raises(AlreadyExistsError, match="deleted"):
        store.create_experiment("e")

    store.restore_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == "active"
    assert store.get_run(keep).info.lifecycle_stage == "active"
    # A run deleted on its own before the experiment stays deleted.
    assert store.get_run(gone_before).info.lifecycle_stage == "deleted"


def test_default_experiment_cannot_be_deleted(store: SqlAlchemyStore) -> None:
    with pytest.raises(InvalidInputError):
        store.delete_experiment("0")
    assert store.get_experiment("0").lifecycle_stage == "active"


def test_rename(store: SqlAlchemyStore) -> None:
    a = store.create_experiment("a")
    store.create_experiment("b")
    store.rename_experiment(a, "a2")
    assert store.get_experiment(a).name == "a2"
    assert store.get_experiment_by_name("a") is None
    with pytest.raises(AlreadyExistsError):
        store.rename_experiment(a, "b")
    store.rename_experiment(a, "a2")  # same name: no-op
    with pytest.raises(InvalidInputError):
        store.rename_experiment(a, "")


def test_set_experiment_tag_overwrites(store: SqlAlchemyStore) -> None:
    exp_id = store.create_experiment("t")
    store.set_experiment_tag(exp_id, RunTag("k", "1"))
    store.set_experiment_tag(exp_id, RunTag("k", "2"))
    assert store.get_experiment(exp_id).tags == {"k": "2"}


def test_search_experiments(store: SqlAlchemyStore) -> None:
    ids = {
        name: store.create_experiment(name, tags=[RunTag("team", team)])
        for name, team in [("nlp-a", "nlp"), ("nlp-b", "nlp"), ("vision", "cv"), ("NLP-c", "x")]
    }
    store.delete_experiment(ids["nlp-b"])

    def names(**kwargs: object) -> list[str]:
        return [e.name for e in store.search_experiments(**kwargs)]  # type: ignore[arg-type]

    assert names(order_by=["name"]) == ["Default", "NLP-c", "nlp-a", "vision"]
    assert names(filter_string="name LIKE 'nlp%'") == ["nlp-a"]
    assert sorted(names(filter_string="name ILIKE 'nlp%'")) == ["NLP-c", "nlp-a"]
    assert names(filter_string="attributes.name = 'vision'") == ["vision"]
    assert names(filter_string="tags.team = 'nlp'", view_type=ViewType.ALL) == ["nlp-b", "nlp-a"]
    assert names(view_type=ViewType.DELETED_ONLY) == ["nlp-b"]
    assert names(order_by=["experiment_id DESC"])[0] == "NLP-c"
    assert names(order_by=["creation_time ASC", "name"])[0] == "Default"
    # Newest first by default.
    assert names()[-1] == "Default"


def test_search_experiments_paging(store: SqlAlchemyStore) -> None:
    for i in range(5):
        store.create_experiment(f"e{i}")
    first = store.search_experiments(max_results=4, order_by=["name"])
    assert [e.name for e in first] == ["Default", "e0", "e1", "e2"]
    assert first.token is not None
    rest = store.search_experiments(max_results=4, order_by=["name"], page_token=first.token)
    assert [e.name for e in rest] == ["e3", "e4"]
    assert rest.token is None
    with pytest.raises(InvalidInputError):
        store.search_experiments(page_token="not-a-token")
    with pytest.raises(InvalidInputError):
        store.search_experiments(max_results=0)
