"""Text no database can keep (NUL characters, which PostgreSQL refuses, and lone surrogates)
in every kind of field, on SQLite and PostgreSQL: a 4xx naming the field, or (span text, which
is never refused) kept with U+FFFD in its place; never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import ServerProcess

CASES = [
    (
        "POST",
        "/api/2.0/mlflow/runs/search",
        {"json": {"experiment_ids": ["0"], "filter": "params.x = 'a\x00b'"}},
    ),
    (
        "POST",
        "/api/2.0/mlflow/runs/search",
        {"json": {"experiment_ids": ["0"], "order_by": ["params.`a\x00`"]}},
    ),
    ("POST", "/api/2.0/mlflow/runs/search", {"json": {"experiment_ids": ["0\x00"]}}),
    (
        "POST",
        "/api/2.0/mlflow/runs/search",
        {"json": {"experiment_ids": ["0"], "page_token": "a\x00"}},
    ),
    ("POST", "/api/2.0/mlflow/experiments/search", {"json": {"filter": "name = 'a\x00'"}}),
    ("POST", "/api/2.0/mlflow/experiments/search", {"json": {"page_token": "\x00"}}),
    ("GET", "/api/2.0/spanrun/traces/get", {"params": {"trace_id": "a\x00"}}),
    (
        "POST",
        "/api/2.0/spanrun/traces/search",
        {
            "json": {
                "run_id": "a\x00",
                "experiment_ids": ["\x00"],
                "page_token": "\x00",
                "order_by": ["\x00"],
            }
        },
    ),
    (
        "POST",
        "/api/2.0/spanrun/spans/log",
        {
            "json": {
                "spans": [
                    {
                        "trace_id": "a" * 32,
                        "span_id": "b" * 16,
                        "name": "n\x00",
                        "kind": "CLIENT",
                        "start_time_ns": 1,
                        "end_time_ns": 2,
                        "status_message": "\x00",
                        "attributes": {"k\x00": "v\x00"},
                        "resource": {"a": "\x00"},
                        "run_id": "r\x00",
                        "experiment_id": "\x00",
                        "events": [
                            {"name": "\x00", "timestamp_ns": 1, "attributes": {"\x00": "\x00"}}
                        ],
                    }
                ]
            }
        },
    ),
    (
        "POST",
        "/api/2.0/spanrun/runs/log-export-batch",
        {
            "json": {
                "runs": {
                    "r\x00": {
                        "metrics": [["k\x00", 1, 1, 1]],
                        "params": {"p\x00": "v\x00"},
                        "tags": {"t": "\x00"},
                    }
                }
            }
        },
    ),
    ("GET", "/api/2.0/mlflow/runs/get", {"params": {"run_id": "a\x00"}}),
    (
        "GET",
        "/api/2.0/mlflow/metrics/get-history-bulk-interval",
        {"params": {"run_ids": "a\x00", "metric_key": "m"}},
    ),
    (
        "POST",
        "/api/2.0/mlflow/runs/create",
        {"json": {"experiment_id": "0", "user_id": "\x00", "run_name": "x"}},
    ),
    ("POST", "/api/2.0/mlflow/runs/create", {"json": {"experiment_id": "0\x00"}}),
    ("POST", "/api/2.0/mlflow/runs/log-inputs", {"json": {"run_id": "\x00"}}),
    (
        "POST",
        "/api/2.0/mlflow/experiments/create",
        {"json": {"name": "ok-\x01", "tags": [{"key": "k", "value": "\x00"}]}},
    ),
    ("GET", "/api/2.0/mlflow/experiments/get", {"params": {"experiment_id": "\x00"}}),
    (
        "POST",
        "/api/2.0/mlflow/runs/log-batch",
        {"json": {"run_id": "RUN", "params": [{"key": "k", "value": "\x00"}]}},
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_unstorable_text_is_never_a_500(
    server: ServerProcess, case: tuple[str, str, dict[str, Any]]
) -> None:
    method, path, kwargs = case
    if "json" in kwargs and kwargs["json"].get("run_id") == "RUN":
        run = server.ok("POST", "runs/create", json={"experiment_id": "0"})["run"]
        kwargs = {"json": dict(kwargs["json"], run_id=run["info"]["run_id"])}  # type: ignore[index]
    response = server.http.request(method, path, **kwargs)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert response.json()["error_code"] in (
            "INVALID_PARAMETER_VALUE",
            "RESOURCE_DOES_NOT_EXIST",
        )


def test_span_text_is_kept_with_replacements(server: ServerProcess) -> None:
    span = {
        "trace_id": "d" * 32,
        "span_id": "e" * 16,
        "name": "n\x00",
        "kind": "CLIENT",
        "start_time_ns": 1,
        "end_time_ns": 2,
        "attributes": {"k\x00": ["v\x00"]},
    }
    assert server.http.post("/api/2.0/spanrun/spans/log", json={"spans": [span]}).status_code == 200
    trace = server.http.get("/api/2.0/spanrun/traces/get", params={"trace_id": "D" * 32}).json()
    [stored] = trace["trace"]["spans"]
    assert stored["name"] == "n\ufffd"
    assert stored["attributes"] == {"k\ufffd": ["v\ufffd"]}
