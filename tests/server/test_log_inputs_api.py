"""``runs/log-inputs``, ``runs/get`` and ``runs/search`` with dataset inputs over HTTP, against
``spanrun server`` on SQLite and PostgreSQL: MLflow's JSON, and MLflow-shaped 4xx for bad input
(never a 500)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import ServerProcess

DATASET = {
    "name": "eval",
    "digest": "1234abcd",
    "source_type": "local",
    "source": '{"uri": "data/eval.csv"}',
    "profile": '{"num_rows": 2, "num_elements": 4}',
}


def _run(server: ServerProcess) -> tuple[str, str]:
    experiment = server.ok("POST", "experiments/create", json={"name": uuid.uuid4().hex})
    experiment_id = str(experiment["experiment_id"])
    created: Any = server.ok("POST", "runs/create", json={"experiment_id": experiment_id})
    return experiment_id, created["run"]["info"]["run_id"]


def test_log_inputs_then_get_and_search(server: ServerProcess) -> None:
    experiment_id, run_id = _run(server)
    tags = [{"key": "mlflow.data.context", "value": "eval"}]
    body = {"run_id": run_id, "datasets": [{"tags": tags, "dataset": DATASET}]}
    assert server.ok("POST", "runs/log-inputs", json=body) == {}
    server.ok("POST", "runs/log-inputs", json=body)  # again: no second input
    expected = {"dataset_inputs": [{"tags": tags, "dataset": DATASET}]}
    got: Any = server.ok("GET", "runs/get", params={"run_id": run_id})
    assert got["run"]["inputs"] == expected
    found: Any = server.ok("POST", "runs/search", json={"experiment_ids": [experiment_id]})
    assert [r["inputs"] for r in found["runs"]] == [expected]
    _, bare = _run(server)
    assert server.ok("GET", "runs/get", params={"run_id": bare})["run"]["inputs"] == {}  # type: ignore[index]


def _with(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**DATASET, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("datasets", "message"),
    [
        ("eval", "datasets"),
        ([{"tags": []}], "datasets[0].dataset"),
        ([{"dataset": _with(name=None)}], "datasets[0].dataset.name"),
        ([{"dataset": _with(digest=None)}], "datasets[0].dataset.digest"),
        ([{"dataset": _with(name=5)}], "must be a string"),
        ([{"dataset": _with(name="n" * 501)}], "limit is 500"),
        ([{"dataset": _with(digest="d" * 37)}], "limit is 36"),
        ([{"dataset": _with(name="a\u0000b")}], "NUL"),
        ([{"dataset": DATASET, "tags": "x"}], "tags"),
        ([{"dataset": DATASET, "tags": [{"key": "k", "value": "v" * 501}]}], "limit is 500"),
        ([{"dataset": DATASET, "tags": [{"value": "v"}]}], "datasets[0].tags[0].key"),
        ([{"dataset": DATASET}] * 1001, "limit is 1000"),
    ],
)
def test_bad_input_is_a_400(server: ServerProcess, datasets: Any, message: str) -> None:
    _, run_id = _run(server)
    response = server.api("POST", "runs/log-inputs", json={"run_id": run_id, "datasets": datasets})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in response.json()["message"]
    assert server.ok("GET", "runs/get", params={"run_id": run_id})["run"]["inputs"] == {}  # type: ignore[index]


def test_unknown_run_models_and_missing_run_id(server: ServerProcess) -> None:
    body = {"run_id": "f" * 32, "datasets": [{"dataset": DATASET}]}
    response = server.api("POST", "runs/log-inputs", json=body)
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    _, run_id = _run(server)
    response = server.api(
        "POST", "runs/log-inputs", json={"run_id": run_id, "models": [{"model_id": "m"}]}
    )
    assert response.status_code == 400 and "logged models" in response.json()["message"]
    response = server.api("POST", "runs/log-inputs", json={"datasets": []})
    assert response.status_code == 400 and "run_id" in response.json()["message"]


_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "a\x00b", "\ud800", "x" * 600, "eval"]),
)
_values = st.one_of(st.none(), _texts, st.integers(), st.floats(), st.booleans(), st.lists(_texts))
_datasets = st.fixed_dictionaries(
    {},
    optional={name: _values for name in [*DATASET, "schema"]},
)
_items = st.fixed_dictionaries(
    {},
    optional={
        "dataset": st.one_of(_datasets, _values),
        "tags": st.one_of(
            st.lists(st.fixed_dictionaries({}, optional={"key": _values, "value": _values})),
            _values,
        ),
    },
)


@pytest.fixture(scope="module")
def fuzz_run(server: ServerProcess) -> str:
    return _run(server)[1]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(datasets=st.one_of(st.lists(_items, max_size=3), _values))
def test_random_datasets_never_answer_500(
    server: ServerProcess, fuzz_run: str, datasets: Any
) -> None:
    # ASCII JSON: lone surrogates travel as \ud800 escapes, as a client might send them.
    body = json.dumps({"run_id": fuzz_run, "datasets": datasets})
    headers = {"Content-Type": "application/json"}
    response = server.api("POST", "runs/log-inputs", content=body, headers=headers)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert server.api("GET", "runs/get", params={"run_id": fuzz_run}).status_code == 200
