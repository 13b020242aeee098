"""Datasets as run inputs (``log_input``, ``log_inputs``, ``MlflowClient.log_inputs``), once per
backend: SQLite and the REST store against a spanrun server (see conftest.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spanrun
from spanrun.entities import Dataset, DatasetInput, InputTag
from spanrun.errors import (
    InvalidFilterError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    UnsupportedError,
)

CONTEXT = "mlflow.data.context"


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame({"question": ["2+2?", "capital of France?"], "label": [4, 0]})


def _stored_rows(tmp_path: Path, table: str) -> int:
    """Rows of ``table`` in the backend's SQLite file (the local store's, or the server's)."""
    for name in ("tracking.db", "server.db"):
        if (tmp_path / name).exists():
            with sqlite3.connect(tmp_path / name) as conn:
                count: int = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                return count
    raise AssertionError("no SQLite file")


def test_log_input_round_trip(df: pd.DataFrame) -> None:
    dataset = spanrun.data.from_pandas(df, source="data/eval.csv", name="eval", targets="label")
    with spanrun.start_run() as run:
        spanrun.log_input(dataset, context="eval", tags={"split": "test"})
    (item,) = spanrun.get_run(run.info.run_id).inputs.dataset_inputs
    assert item.dataset == dataset.to_entity()
    assert item.dataset.name == "eval"
    assert item.dataset.source_type == "local"
    assert json.loads(item.dataset.source) == {"uri": "data/eval.csv"}
    assert json.loads(item.dataset.profile or "") == {"num_rows": 2, "num_elements": 4}
    assert json.loads(item.dataset.schema or "")["mlflow_colspec"] == [
        {"type": "string", "name": "question", "required": True},
        {"type": "long", "name": "label", "required": True},
    ]
    assert {t.key: t.value for t in item.tags} == {"split": "test", CONTEXT: "eval"}
    assert item.to_dictionary()["tags"] == {"split": "test", CONTEXT: "eval"}


def test_log_input_starts_a_run_as_mlflow(df: pd.DataFrame) -> None:
    spanrun.log_input(spanrun.data.from_pandas(df, name="train"), context="training")
    run = spanrun.active_run()
    assert run is not None
    spanrun.end_run()
    (item,) = spanrun.get_run(run.info.run_id).inputs.dataset_inputs
    assert item.dataset.source_type == "code"  # no source: the program that made it
    assert "mlflow.source.name" in json.loads(item.dataset.source)["tags"]


def test_log_inputs_in_order_and_search_runs_returns_them(df: pd.DataFrame) -> None:
    first = spanrun.data.from_pandas(df, name="train")
    second = spanrun.data.from_numpy(np.arange(6.0).reshape(3, 2), name="features")
    with spanrun.start_run() as run:
        spanrun.log_inputs([first, second], ["training", None], [None, {"k": "v"}])
    inputs = spanrun.get_run(run.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["train", "features"]
    assert inputs[0].tags == (InputTag(CONTEXT, "training"),)
    assert inputs[1].tags == (InputTag("k", "v"),)
    assert json.loads(inputs[1].dataset.schema or "")["mlflow_tensorspec"]["targets"] is None
    (found,) = spanrun.search_runs(output_format="list")
    assert found.inputs.dataset_inputs == inputs
    frame = spanrun.search_runs()  # the DataFrame is unchanged by inputs
    assert list(frame["run_id"]) == [run.info.run_id]


def test_a_run_without_inputs_has_empty_inputs() -> None:
    with spanrun.start_run() as run:
        pass
    inputs = spanrun.get_run(run.info.run_id).inputs
    assert inputs.dataset_inputs == ()
    assert inputs.model_inputs == ()


def test_client_log_inputs_with_entities(client: spanrun.SpanrunClient) -> None:
    run = client.create_run("0")
    entity = Dataset("ds", "abcd1234", "http", '{"url": "https://example.org/d.csv"}')
    client.log_inputs(run.info.run_id, [DatasetInput(entity, (InputTag("a", "b"),))])
    (item,) = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert item == DatasetInput(entity, (InputTag("a", "b"),))
    assert item.dataset.schema is None and item.dataset.profile is None


def test_same_dataset_is_stored_once_per_experiment(
    df: pd.DataFrame, client: spanrun.SpanrunClient, tmp_path: Path
) -> None:
    dataset = spanrun.data.from_pandas(df, name="eval")
    with spanrun.start_run() as one:
        spanrun.log_input(dataset, context="first")
        spanrun.log_input(dataset, context="second")  # the run keeps the first use's tags
        spanrun.log_inputs([dataset, dataset], [None, None], [None, None])
    with spanrun.start_run() as two:
        spanrun.log_input(spanrun.data.from_pandas(df.copy(), name="eval"), context="again")
    (item,) = spanrun.get_run(one.info.run_id).inputs.dataset_inputs
    assert item.tags == (InputTag(CONTEXT, "first"),)
    (other,) = spanrun.get_run(two.info.run_id).inputs.dataset_inputs
    assert other.dataset == item.dataset and other.tags == (InputTag(CONTEXT, "again"),)
    assert _stored_rows(tmp_path, "datasets") == 1
    assert _stored_rows(tmp_path, "run_inputs") == 2
    # Another digest (changed data) or another name is another dataset.
    with spanrun.start_run():
        spanrun.log_input(spanrun.data.from_pandas(df.head(1), name="eval"))
        spanrun.log_input(spanrun.data.from_pandas(df, name="eval-2"))
    assert _stored_rows(tmp_path, "datasets") == 3
    # Another experiment keeps its own copy (datasets belong to an experiment, as in MLflow).
    spanrun.set_experiment("elsewhere")
    with spanrun.start_run():
        spanrun.log_input(dataset)
    assert _stored_rows(tmp_path, "datasets") == 4


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda df: spanrun.log_input(df), "from_pandas"),
        (lambda df: spanrun.log_input("data.csv"), "log_input takes a dataset"),
        (lambda df: spanrun.log_input({"name": "x"}), "log_input takes a dataset"),
        (lambda df: spanrun.log_input(df["label"]), "from_pandas"),  # a Series
        (lambda df: spanrun.log_input(df.to_numpy()), "log_input takes a dataset"),
        (lambda df: spanrun.log_input(None, context="eval"), "must be given"),
        (
            lambda df: spanrun.log_input(spanrun.data.from_pandas(df, name="n" * 501)),
            "501 characters long; the limit is 500",
        ),
        (
            lambda df: spanrun.log_input(spanrun.data.from_pandas(df, digest="d" * 37)),
            "limit is 36",
        ),
        (
            lambda df: spanrun.log_input(spanrun.data.from_pandas(df), context="c" * 501),
            "limit is 500",
        ),
        (
            lambda df: spanrun.log_input(spanrun.data.from_pandas(df), tags={"k" * 256: "v"}),
            "limit is 255",
        ),
        (
            lambda df: spanrun.log_input(spanrun.data.from_pandas(df, name="a\x00b")),
            "NUL",
        ),
        (lambda df: spanrun.log_input(spanrun.data.from_pandas(df, name="")), "empty"),
        (lambda df: spanrun.log_input(spanrun.data.from_pandas(df), tags=["x"]), "dict"),
        (lambda df: spanrun.log_inputs([spanrun.data.from_pandas(df)], [], []), "same length"),
        (lambda df: spanrun.log_inputs(spanrun.data.from_pandas(df)), "must be a list"),
        (lambda df: spanrun.data.from_pandas([1, 2]), "pandas DataFrame"),
        (lambda df: spanrun.data.from_pandas(df, targets="nope"), "no targets column"),
        (lambda df: spanrun.data.from_pandas(df, name=3), "name must be a string"),
        (lambda df: spanrun.data.from_pandas(df, source=42), "dataset source"),
        (lambda df: spanrun.data.from_numpy([1, 2]), "numpy array"),
    ],
)
def test_bad_input_is_a_typed_error(df: pd.DataFrame, call: object, message: str) -> None:
    with spanrun.start_run() as run, pytest.raises(InvalidInputError, match=message):
        call(df)  # type: ignore[operator]
    assert spanrun.get_run(run.info.run_id).inputs.dataset_inputs == ()


def test_client_bad_input(client: spanrun.SpanrunClient, df: pd.DataFrame) -> None:
    run_id = client.create_run("0").info.run_id
    dataset = spanrun.data.from_pandas(df).to_entity()
    with pytest.raises(InvalidInputError, match="list of DatasetInput"):
        client.log_inputs(run_id, DatasetInput(dataset))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="DatasetInput entities"):
        client.log_inputs(run_id, [dataset])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="limit is 1000"):
        client.log_inputs(run_id, [DatasetInput(dataset)] * 1001)
    with pytest.raises(UnsupportedError, match="no logged models"):
        client.log_inputs(run_id, [], models=["model"])
    with pytest.raises(NotFoundError):
        client.log_inputs("0" * 32, [DatasetInput(dataset)])
    client.delete_run(run_id)
    with pytest.raises(InvalidStateError):
        client.log_inputs(run_id, [DatasetInput(dataset)])


def test_data_and_entities_load_on_first_access_without_pandas() -> None:
    code = (
        "import sys, spanrun; spanrun.data.from_pandas; spanrun.entities.DatasetInput; "
        "print('pandas' in sys.modules, 'log_input' in dir(spanrun))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_search_runs_by_dataset_name_digest_and_context(df: pd.DataFrame) -> None:
    evaluation = spanrun.data.from_pandas(df, name="eval")
    training = spanrun.data.from_pandas(df.head(1), name="train")
    with spanrun.start_run() as both:
        spanrun.log_inputs([training, evaluation], ["training", "eval"], [None, None])
    with spanrun.start_run() as only_eval:
        spanrun.log_input(evaluation, context="eval")
    with spanrun.start_run():
        pass

    def found(filter_string: str) -> set[str]:
        runs = spanrun.search_runs(filter_string=filter_string, output_format="list")
        return {r.info.run_id for r in runs}

    assert found("datasets.name = 'eval'") == {both.info.run_id, only_eval.info.run_id}
    assert found("datasets.name = 'train'") == {both.info.run_id}
    assert found(f"dataset.digest = '{training.digest}'") == {both.info.run_id}
    assert found("datasets.context IN ('training')") == {both.info.run_id}
    assert found("datasets.name LIKE 'ev%' and datasets.context = 'training'") == {both.info.run_id}
    assert found("datasets.name != 'train'") == {both.info.run_id, only_eval.info.run_id}
    assert found("datasets.name = 'nope'") == set()
    for bad in ("datasets.rows = '3'", "datasets.name > 'a'"):
        with pytest.raises(InvalidFilterError):
            spanrun.search_runs(filter_string=bad)
    with pytest.raises(InvalidFilterError, match="ordered by their datasets"):
        spanrun.search_runs(order_by=["datasets.name"])


def test_mlflow_data_constructors_spanrun_lacks_are_a_typed_error() -> None:
    with pytest.raises(UnsupportedError, match="from_pandas or from_numpy"):
        spanrun.data.from_spark  # noqa: B018
    assert not hasattr(spanrun.data, "from_huggingface")
    with pytest.raises(AttributeError) as info:
        spanrun.data.no_such_thing  # noqa: B018
    assert not isinstance(info.value, UnsupportedError)
