"""``Store.delete_experiment_tag`` on SQLite and PostgreSQL: only that experiment's tag goes."""

from __future__ import annotations

import pytest

from spanrun.core.entities import RunTag
from spanrun.errors import NotFoundError
from spanrun.store import SqlAlchemyStore


def test_only_that_experiments_tag_is_deleted(store: SqlAlchemyStore) -> None:
    first = store.create_experiment("first")
    second = store.create_experiment("second")
    for experiment_id in (first, second):
        store.set_experiment_tag(experiment_id, RunTag("k", "v"))
        store.set_experiment_tag(experiment_id, RunTag("other", "w"))
    store.delete_experiment_tag(first, "k")
    assert store.get_experiment(first).tags == {"other": "w"}
    assert store.get_experiment(second).tags == {"k": "v", "other": "w"}
    with pytest.raises(NotFoundError):
        store.delete_experiment_tag(first, "k")
