"""MLflow's REST API 2.0 against a real ``spanrun server`` (uvicorn subprocess), on SQLite and on
PostgreSQL: paths, JSON shapes, defaults, error bodies and statuses."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

from spanrun.store import get_store
from tests.server.conftest import ServerProcess


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text
    return str(body["message"])


def _new_run(server: ServerProcess, **fields: Any) -> dict[str, Any]:
    experiment_id = server.ok("POST", "experiments/create", json={"name": _name("exp")})[
        "experiment_id"
    ]
    body = server.ok("POST", "runs/create", json={"experiment_id": experiment_id, **fields})
    run: dict[str, Any] = body["run"]  # type: ignore[assignment]
    return run


def test_experiments_lifecycle(server: ServerProcess) -> None:
    name = _name("exp")
    created = server.ok(
        "POST", "experiments/create", json={"name": name, "tags": [{"key": "team", "value": "nlp"}]}
    )
    experiment_id = created["experiment_id"]
    assert isinstance(experiment_id, str)
    got = server.ok("GET", "experiments/get", params={"experiment_id": experiment_id})
    experiment = got["experiment"]
    assert experiment["name"] == name  # type: ignore[index]
    assert experiment["lifecycle_stage"] == "active"  # type: ignore[index]
    assert experiment["tags"] == [{"key": "team", "value": "nlp"}]  # type: ignore[index]
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"  # type: ignore[index]
    assert isinstance(experiment["creation_time"], int)  # type: ignore[index]
    by_name = server.ok("GET", "experiments/get-by-name", params={"experiment_name": name})
    assert by_name["experiment"]["experiment_id"] == experiment_id  # type: ignore[index]

    server.ok(
        "POST", "experiments/update", json={"experiment_id": experiment_id, "new_name": name + "-2"}
    )
    server.ok(
        "POST",
        "experiments/set-experiment-tag",
        json={"experiment_id": experiment_id, "key": "stage", "value": "dev"},
    )
    found = server.ok("POST", "experiments/search", json={"filter": f"name = '{name}-2'"})
    [one] = found["experiments"]  # type: ignore[misc]
    assert one["experiment_id"] == experiment_id
    assert {"key": "stage", "value": "dev"} in one["tags"]
    listed = server.ok("GET", "experiments/search", params={"filter": f"name = '{name}-2'"})
    assert listed["experiments"] == found["experiments"]

    server.ok("POST", "experiments/delete", json={"experiment_id": experiment_id})
    active = server.ok("GET", "experiments/search", params={"max_results": "50000"})
    assert experiment_id not in [e["experiment_id"] for e in active["experiments"]]  # type: ignore[attr-defined]
    deleted = server.ok("POST", "experiments/search", json={"view_type": "DELETED_ONLY"})
    assert experiment_id in [e["experiment_id"] for e in deleted["experiments"]]  # type: ignore[attr-defined]
    numeric = server.ok("GET", "experiments/search", params={"view_type": "2"})
    assert numeric["experiments"] == deleted["experiments"]
    server.ok("POST", "experiments/restore", json={"experiment_id": experiment_id})
    again = server.ok("GET", "experiments/get", params={"experiment_id": experiment_id})
    assert again["experiment"]["lifecycle_stage"] == "active"  # type: ignore[index]


def test_experiment_errors(server: ServerProcess) -> None:
    name = _name("dup")
    server.ok("POST", "experiments/create", json={"name": name})
    _error(
        server.api("POST", "experiments/create", json={"name": name}),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    _error(server.api("POST", "experiments/create", json={}), 400, "INVALID_PARAMETER_VALUE")
    _error(
        server.api("POST", "experiments/create", json={"name": 5}), 400, "INVALID_PARAMETER_VALUE"
    )
    _error(
        server.api("GET", "experiments/get", params={"experiment_id": "987654"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    _error(
        server.api("GET", "experiments/get-by-name", params={"experiment_name": _name("none")}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    _error(
        server.api("POST", "experiments/search", json={"view_type": "SOME"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        server.api("POST", "experiments/search", json={"max_results": 0}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    message = _error(
        server.api("POST", "experiments/search", json={"filter": "name = "}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "name" in message or "filter" in message.lower()
    # A client cannot point an experiment at a folder of the server's choosing.
    for location in (
        "/etc",
        "file:///tmp/x",
        "s3://bucket/x",
        "mlflow-artifacts:/../x",
        "mlflow-artifacts:/",
    ):
        _error(
            server.api(
                "POST",
                "experiments/create",
                json={"name": _name("loc"), "artifact_location": location},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )
    inside = server.ok(
        "POST",
        "experiments/create",
        json={"name": _name("loc"), "artifact_location": "mlflow-artifacts:/custom/place"},
    )
    got = server.ok("GET", "experiments/get", params={"experiment_id": inside["experiment_id"]})
    assert got["experiment"]["artifact_location"] == "mlflow-artifacts:/custom/place"  # type: ignore[index]


def test_runs_lifecycle(server: ServerProcess) -> None:
    run = _new_run(
        server,
        user_id="alice",
        run_name="first",
        start_time=1_700_000_000_000,
        tags=[{"key": "t", "value": "1"}],
    )
    info = run["info"]
    run_id = info["run_id"]
    assert info["run_uuid"] == run_id
    assert (info["run_name"], info["user_id"], info["status"]) == ("first", "alice", "RUNNING")
    assert info["start_time"] == 1_700_000_000_000
    assert info["artifact_uri"] == f"mlflow-artifacts:/{info['experiment_id']}/{run_id}/artifacts"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["t"] == "1" and tags["mlflow.runName"] == "first" and tags["mlflow.user"] == "alice"

    updated = server.ok(
        "POST",
        "runs/update",
        json={
            "run_id": run_id,
            "status": "FINISHED",
            "end_time": 1_700_000_001_000,
            "run_name": "renamed",
        },
    )
    assert updated["run_info"]["status"] == "FINISHED"  # type: ignore[index]
    assert updated["run_info"]["end_time"] == 1_700_000_001_000  # type: ignore[index]
    assert updated["run_info"]["run_name"] == "renamed"  # type: ignore[index]
    got = server.ok("GET", "runs/get", params={"run_uuid": run_id})["run"]
    assert {"key": "mlflow.runName", "value": "renamed"} in got["data"]["tags"]  # type: ignore[index]

    # Only what is given changes: an end time alone keeps the status.
    server.ok("POST", "runs/update", json={"run_id": run_id, "status": "RUNNING"})
    kept = server.ok("POST", "runs/update", json={"run_id": run_id, "end_time": 5})["run_info"]
    assert (kept["status"], kept["end_time"], kept["run_name"]) == ("RUNNING", 5, "renamed")  # type: ignore[index]
    server.ok("POST", "runs/delete", json={"run_id": run_id})
    assert (
        server.ok("GET", "runs/get", params={"run_id": run_id})["run"]["info"]["lifecycle_stage"]
        == "deleted"
    )  # type: ignore[index]
    _error(
        server.api(
            "POST",
            "runs/log-metric",
            json={"run_id": run_id, "key": "m", "value": 1, "timestamp": 1},
        ),
        400,
        "INVALID_STATE",
    )
    server.ok("POST", "runs/restore", json={"run_id": run_id})
    _error(
        server.api("GET", "runs/get", params={"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    _error(server.api("GET", "runs/get"), 400, "INVALID_PARAMETER_VALUE")
    _error(
        server.api("POST", "runs/update", json={"run_id": run_id, "status": "SLEEPING"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_search_runs(server: ServerProcess) -> None:
    experiment_id = server.ok("POST", "experiments/create", json={"name": _name("search")})[
        "experiment_id"
    ]
    ids = []
    for i in range(5):
        run = server.ok("POST", "runs/create", json={"experiment_id": experiment_id})["run"]
        run_id = run["info"]["run_id"]  # type: ignore[index]
        ids.append(run_id)
        server.ok(
            "POST",
            "runs/log-batch",
            json={
                "run_id": run_id,
                "metrics": [{"key": "acc", "value": i / 10, "timestamp": 1, "step": 0}],
                "params": [{"key": "model", "value": "gpt-4o" if i % 2 else "mini"}],
            },
        )
    body = server.ok(
        "POST",
        "runs/search",
        json={
            "experiment_ids": [experiment_id],
            "filter": "metrics.acc > 0.15 and params.model = 'gpt-4o'",
            "order_by": ["metrics.acc DESC"],
        },
    )
    assert [r["info"]["run_id"] for r in body["runs"]] == [ids[3]]  # type: ignore[attr-defined]
    pages: list[str] = []
    token = None
    while True:
        page = server.ok(
            "POST",
            "runs/search",
            json={
                "experiment_ids": [experiment_id],
                "max_results": 2,
                "order_by": ["metrics.acc ASC"],
            }
            | ({"page_token": token} if token else {}),
        )
        pages.extend(r["info"]["run_id"] for r in page["runs"])  # type: ignore[attr-defined]
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == ids
    _error(
        server.api(
            "POST",
            "runs/search",
            json={"experiment_ids": [experiment_id], "filter": "metrics.acc >> 1"},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        server.api("POST", "runs/search", json={"experiment_ids": experiment_id}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        server.api(
            "POST", "runs/search", json={"experiment_ids": [experiment_id], "max_results": 50001}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_metrics_params_tags(server: ServerProcess) -> None:
    run_id = _new_run(server)["info"]["run_id"]
    for step, value in enumerate([0.5, "NaN", "Infinity", "-Infinity", 2]):
        server.ok(
            "POST",
            "runs/log-metric",
            json={
                "run_id": run_id,
                "key": "loss",
                "value": value,
                "timestamp": 1000 + step,
                "step": step,
            },
        )
    server.ok("POST", "runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.1"})
    server.ok("POST", "runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.1"})
    message = _error(
        server.api(
            "POST", "runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.2"}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "lr" in message
    assert (
        server.api(
            "POST", "runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.2"}
        ).json()["spanrun_error"]
        == "InvalidParamChangeError"
    )
    server.ok("POST", "runs/set-tag", json={"run_id": run_id, "key": "note", "value": "x"})
    server.ok("POST", "runs/set-tag", json={"run_id": run_id, "key": "gone", "value": "y"})
    server.ok("POST", "runs/delete-tag", json={"run_id": run_id, "key": "gone"})
    server.ok(
        "POST",
        "runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [{"key": "b", "value": i, "timestamp": 5, "step": i} for i in range(1000)],
            "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
            "tags": [{"key": "batch", "value": "yes"}],
        },
    )
    server.ok("POST", "runs/log-inputs", json={"run_id": run_id, "datasets": []})

    history = server.ok(
        "GET", "metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}
    )
    values = [m["value"] for m in history["metrics"]]  # type: ignore[attr-defined]
    assert values == [0.5, "NaN", "Infinity", "-Infinity", 2.0]
    assert [m["step"] for m in history["metrics"]] == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]
    first = server.ok(
        "GET",
        "metrics/get-history",
        params={"run_id": run_id, "metric_key": "b", "max_results": 600},
    )
    rest = server.ok(
        "GET",
        "metrics/get-history",
        params={
            "run_id": run_id,
            "metric_key": "b",
            "max_results": 600,
            "page_token": first["next_page_token"],
        },
    )
    assert "next_page_token" not in rest
    assert [m["step"] for m in first["metrics"] + rest["metrics"]] == list(range(1000))  # type: ignore[operator]
    sampled = server.ok(
        "GET",
        "metrics/get-history-bulk-interval",
        params={"run_ids": run_id, "metric_key": "b", "max_results": 10},
    )
    steps = [m["step"] for m in sampled["metrics"]]  # type: ignore[attr-defined]
    assert len(steps) <= 12 and steps[0] == 0 and steps[-1] == 999 and steps == sorted(steps)
    assert all(m["run_id"] == run_id for m in sampled["metrics"])  # type: ignore[attr-defined]

    got = server.ok("GET", "runs/get", params={"run_id": run_id})["run"]["data"]  # type: ignore[index]
    assert {"key": "loss", "value": 2.0} in got["metrics"]  # type: ignore[index]
    tags = {t["key"]: t["value"] for t in got["tags"]}  # type: ignore[index]
    assert tags["note"] == "x" and tags["batch"] == "yes" and "gone" not in tags
    assert len(got["params"]) == 101  # type: ignore[arg-type]

    # What arrived, read with spanrun's own store.
    stored = get_store(server.backend_store_uri).get_metric_history(run_id, "loss")
    assert (
        math.isnan(stored[1].value) and stored[2].value == math.inf and stored[3].value == -math.inf
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (
            "runs/log-metric",
            {"run_id": "RUN", "key": "m", "value": True, "timestamp": 1},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-metric",
            {"run_id": "RUN", "key": "m", "value": "abc", "timestamp": 1},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-metric",
            {"run_id": "RUN", "key": "m", "timestamp": 1},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-metric",
            {"run_id": "RUN", "key": "m", "value": 1, "timestamp": 2**64},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-metric",
            {"run_id": "RUN", "key": "m", "value": 1, "step": "x"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-metric",
            {"run_id": "RUN", "key": "../x", "value": 1},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-metric",
            {"run_id": "f" * 32, "key": "m", "value": 1},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "runs/log-parameter",
            {"run_id": "RUN", "key": "p", "value": "x" * 6001},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-parameter",
            {"run_id": "RUN", "key": "p", "value": 5},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("runs/log-parameter", {"run_id": "RUN", "value": "v"}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "runs/set-tag",
            {"run_id": "RUN", "key": "k", "value": ["x"]},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/set-tag",
            {"run_id": ["RUN"], "key": "k", "value": "v"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-batch",
            {"run_id": "RUN", "metrics": [{"key": "m", "value": 1, "timestamp": 1}] * 1001},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-batch",
            {"run_id": "RUN", "params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "runs/log-batch",
            {"run_id": "RUN", "metrics": {"key": "m"}},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("runs/log-batch", {"run_id": "RUN", "metrics": [5]}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "runs/log-batch",
            {"run_id": "RUN", "tags": [{"value": "v"}]},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("runs/create", {"experiment_id": "424242"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        (
            "runs/create",
            {"experiment_id": "0", "start_time": "soon"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("runs/create", {"experiment_id": "0", "tags": "k=v"}, 400, "INVALID_PARAMETER_VALUE"),
        ("runs/delete-tag", {"run_id": "RUN", "key": "never-set"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_bad_input_is_a_4xx(
    server: ServerProcess, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    run_id = _new_run(server)["info"]["run_id"]
    body = {k: (run_id if v == "RUN" else v) for k, v in body.items()}
    _error(server.api("POST", path, json=body), status, code)


def test_malformed_requests(server: ServerProcess) -> None:
    post = server.http.post
    url = "/api/2.0/mlflow/runs/log-metric"
    _error(
        post(url, content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        post(url, content=b"[1, 2]", headers={"Content-Type": "application/json"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        post(url, content=b"\xff\xfe", headers={"Content-Type": "application/json"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        post(url, content=b"[" * 100_000, headers={"Content-Type": "application/json"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(
        post(url, content=b'{"run_id": "x"}', headers={"Content-Type": "text/plain"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    _error(server.http.get("/api/2.0/mlflow/no/such/thing"), 404, "ENDPOINT_NOT_FOUND")
    _error(server.http.get("/api/2.0/mlflow/runs/create"), 405, "BAD_REQUEST")
    # A double-encoded body, as old MLflow clients send it, is accepted.
    experiment = server.http.post(
        "/api/2.0/mlflow/experiments/create",
        content=b'"{\\"name\\": \\"double-' + uuid.uuid4().hex.encode() + b'\\"}"',
        headers={"Content-Type": "application/json"},
    )
    assert experiment.status_code == 200, experiment.text


def test_ajax_prefix_and_health(server: ServerProcess) -> None:
    response = server.http.get(
        "/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}
    )
    assert response.status_code == 200
    assert response.json()["experiment"]["name"] == "Default"
    assert server.http.get("/health").text == "OK"
