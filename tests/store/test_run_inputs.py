"""Run inputs in the SQL stores, on SQLite and PostgreSQL: stored once per experiment and
(name, digest), read back in order by get_run and search_runs, safe under concurrent writers,
and added to an existing database by migration 0004."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from spanrun.core.entities import Dataset, DatasetInput, InputTag, RunInputs
from spanrun.errors import InvalidStateError, NotFoundError
from spanrun.store import SqlAlchemyStore, _migrate
from spanrun.store import _models as m


def _input(name: str, digest: str = "d1", **tags: str) -> DatasetInput:
    dataset = Dataset(name, digest, "local", '{"uri": "x.csv"}', '{"mlflow_colspec": []}', "{}")
    return DatasetInput(dataset, tuple(InputTag(k, v) for k, v in tags.items()))


def _run(store: SqlAlchemyStore, experiment_id: str = "0") -> str:
    return store.create_run(experiment_id, "me", 0, [], None).info.run_id


def _count(store: SqlAlchemyStore, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_inputs_are_stored_once_and_read_in_order(store: SqlAlchemyStore) -> None:
    one, two = _run(store), _run(store)
    store.log_inputs(one, [_input("train", a="1"), _input("eval", b="2"), _input("train", c="3")])
    store.log_inputs(one, [_input("eval", b="changed")])  # already used: first tags kept
    store.log_inputs(two, [_input("eval")])
    assert store.get_run(one).inputs == RunInputs((_input("train", a="1"), _input("eval", b="2")))
    assert store.get_run(two).inputs == RunInputs((_input("eval"),))
    assert _count(store, m.datasets) == 2
    assert _count(store, m.run_inputs) == 3
    found = {r.info.run_id: r.inputs for r in store.search_runs(["0"])}
    assert found == {one: store.get_run(one).inputs, two: store.get_run(two).inputs}
    # Another experiment has its own dataset rows.
    other = _run(store, store.create_experiment("other"))
    store.log_inputs(other, [_input("eval")])
    assert _count(store, m.datasets) == 3


def test_unknown_and_deleted_runs(store: SqlAlchemyStore) -> None:
    with pytest.raises(NotFoundError):
        store.log_inputs("f" * 32, [_input("x")])
    with pytest.raises(NotFoundError):
        store.log_inputs("f" * 32, [])
    run_id = _run(store)
    store.delete_run(run_id)
    with pytest.raises(InvalidStateError):
        store.log_inputs(run_id, [_input("x")])
    with pytest.raises(InvalidStateError):
        store.log_inputs(run_id, [])
    assert _count(store, m.datasets) == 0


def test_concurrent_writers_of_one_dataset(store: SqlAlchemyStore) -> None:
    runs = [_run(store) for _ in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(runs))

    def log(run_id: str) -> None:
        try:
            start.wait()
            store.log_inputs(run_id, [_input("shared", context=run_id)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=log, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _count(store, m.datasets) == 1
    for run_id in runs:
        (item,) = store.get_run(run_id).inputs.dataset_inputs
        assert item.tags == (InputTag("context", run_id),)


def test_migration_0004_adds_inputs_to_an_existing_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _migrate._upgrade(conn)  # the whole history, then back to the revision before inputs
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_migrate.MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert "datasets" not in sa.inspect(engine).get_table_names()
    engine.dispose()
    store = SqlAlchemyStore(url, str(tmp_path / "artifacts"))  # migrates to 0004
    try:
        run_id = _run(store)
        store.log_inputs(run_id, [_input("eval")])
        assert store.get_run(run_id).inputs.dataset_inputs == (_input("eval"),)
    finally:
        store.close()


def test_search_runs_by_datasets(store: SqlAlchemyStore) -> None:
    one, two, _ = _run(store), _run(store), _run(store)
    store.log_inputs(one, [_input("train", "d1", **{"mlflow.data.context": "training"})])
    store.log_inputs(two, [_input("eval", "d2", **{"mlflow.data.context": "eval"})])

    def found(filter_string: str) -> set[str]:
        return {r.info.run_id for r in store.search_runs(["0"], filter_string)}

    assert found("datasets.name = 'train'") == {one}
    assert found("datasets.digest IN ('d1', 'd2')") == {one, two}
    assert found("datasets.context ILIKE 'EV%'") == {two}
    assert found("datasets.context = 'eval' and datasets.name = 'train'") == set()
