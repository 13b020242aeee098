"""Run inputs on SQL databases: writing and reading the datasets runs used (tables in
``_models.py``: ``datasets``, ``run_inputs``, ``run_input_tags``).

As MLflow's SQL store: a dataset is stored once per experiment and (name, digest), whatever its
source, schema or profile; a run uses a dataset once, and logging it again keeps the first
use's tags; in one call, repeats of the same (name, digest) count once (the first wins).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.core.entities import Dataset, DatasetInput, InputTag, RunInputs
from spanrun.core.vocabulary import DATASET_CONTEXT_TAG
from spanrun.store import _models as m
from spanrun.store._common import chunks
from spanrun.store._run_writer import raise_unless_active

__all__ = ["active_run_experiment", "read_inputs", "runs_using_datasets", "write_inputs"]

_d = m.datasets.c
_ri = m.run_inputs.c
_rt = m.run_input_tags.c


def _first_of_each(dataset_inputs: Sequence[DatasetInput]) -> list[DatasetInput]:
    unique: dict[tuple[str, str], DatasetInput] = {}
    for item in dataset_inputs:
        unique.setdefault((item.dataset.name, item.dataset.digest), item)
    return list(unique.values())


def _dataset_uuid(
    conn: sa.Connection, insert: Callable[[sa.Table], Any], experiment_id: int, dataset: Dataset
) -> str:
    """The id of the experiment's dataset (name, digest), stored now if it is new."""
    conn.execute(
        insert(m.datasets)
        .values(
            dataset_uuid=uuid.uuid4().hex,
            experiment_id=experiment_id,
            name=dataset.name,
            digest=dataset.digest,
            dataset_source_type=dataset.source_type,
            dataset_source=dataset.source,
            dataset_schema=dataset.schema,
            dataset_profile=dataset.profile,
        )
        .on_conflict_do_nothing(index_elements=[_d.experiment_id, _d.name, _d.digest])
    )
    # Found whether inserted just now or earlier (also by a concurrent writer: committed).
    found: str = conn.execute(
        sa.select(_d.dataset_uuid).where(
            _d.experiment_id == experiment_id, _d.name == dataset.name, _d.digest == dataset.digest
        )
    ).scalar_one()
    return found


def active_run_experiment(conn: sa.Connection, run_id: str) -> int:
    """The experiment of ``run_id``; NotFoundError or InvalidStateError unless it is active."""
    row = conn.execute(
        sa.select(m.runs.c.experiment_id, m.runs.c.lifecycle_stage).where(m.runs.c.run_id == run_id)
    ).first()
    raise_unless_active(run_id, None if row is None else row.lifecycle_stage)
    assert row is not None
    experiment_id: int = row.experiment_id
    return experiment_id


def write_inputs(
    conn: sa.Connection,
    insert: Callable[[sa.Table], Any],
    run_id: str,
    dataset_inputs: Sequence[DatasetInput],
) -> None:
    """Record ``dataset_inputs`` for the active run ``run_id`` in the transaction of ``conn``."""
    experiment_id = active_run_experiment(conn, run_id)
    for item in _first_of_each(dataset_inputs):
        dataset_uuid = _dataset_uuid(conn, insert, experiment_id, item.dataset)
        added = conn.execute(
            insert(m.run_inputs)
            .values(run_id=run_id, dataset_uuid=dataset_uuid)
            .on_conflict_do_nothing(index_elements=[_ri.run_id, _ri.dataset_uuid])
            .returning(_ri.id)
        ).scalar()
        if added is None:
            continue  # the run already used this dataset: its first tags stay
        tags = {tag.key: tag.value for tag in item.tags}  # a key twice: the last value
        if tags:
            conn.execute(
                sa.insert(m.run_input_tags),
                [{"input_id": added, "key": k, "value": v} for k, v in tags.items()],
            )


def read_inputs(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, RunInputs]:
    """The inputs of the runs among ``run_ids`` that have any, in the order they were logged."""
    found: dict[str, list[tuple[int, Dataset]]] = {}
    tags: dict[int, list[InputTag]] = {}
    for chunk in chunks(list(run_ids)):
        query = (
            sa.select(_ri.id, _ri.run_id, *[m.datasets.c[c] for c in _DATASET_COLUMNS])
            .join(m.datasets, _d.dataset_uuid == _ri.dataset_uuid)
            .where(_ri.run_id.in_(chunk))
            .order_by(_ri.id)
        )
        input_ids = []
        for input_id, run_id, *values in conn.execute(query):
            found.setdefault(run_id, []).append((input_id, Dataset(*values)))
            input_ids.append(input_id)
        for ids in chunks(input_ids):
            tag_rows = conn.execute(
                sa.select(_rt.input_id, _rt.key, _rt.value)
                .where(_rt.input_id.in_(ids))
                .order_by(_rt.input_id, _rt.key)
            )
            for input_id, key, value in tag_rows:
                tags.setdefault(input_id, []).append(InputTag(key, value))
    return {
        run_id: RunInputs(
            tuple(DatasetInput(dataset, tuple(tags.get(i, ()))) for i, dataset in items)
        )
        for run_id, items in found.items()
    }


def runs_using_datasets(
    key: str, matches: Callable[[Any], sa.ColumnElement[bool]]
) -> sa.Select[Any]:
    """The ids of runs with a dataset input whose ``key`` (name, digest or context: the
    ``mlflow.data.context`` input tag) ``matches`` (a search filter's ``datasets.<key>``)."""
    query = sa.select(_ri.run_id)
    if key == "context":
        return query.join(m.run_input_tags, _rt.input_id == _ri.id).where(
            _rt.key == DATASET_CONTEXT_TAG, matches(_rt.value)
        )
    column = _d.name if key == "name" else _d.digest
    return query.join(m.datasets, _d.dataset_uuid == _ri.dataset_uuid).where(matches(column))


# In the order of Dataset's fields.
_DATASET_COLUMNS = (
    "name",
    "digest",
    "dataset_source_type",
    "dataset_source",
    "dataset_schema",
    "dataset_profile",
)
