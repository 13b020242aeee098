"""spanrun's own endpoints (``/api/2.0/spanrun/...``) against a real server on SQLite and
PostgreSQL: server info, spans, export batches, traces; bad bodies are 400s."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

import spanrun
from spanrun.core.vocabulary import CALL_METRICS
from spanrun.store import get_store
from tests.server.conftest import ServerProcess

PREFIX = "/api/2.0/spanrun"


def _span(trace_id: str, span_id: str, parent: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": fields.pop("name", "chat gpt-4o-mini"),
        "kind": "CLIENT",
        "start_time_ns": 1_000_000_000,
        "end_time_ns": 2_000_000_000,
        "status_code": "OK",
        "attributes": {"gen_ai.operation.name": "chat", "n": 3},
        "events": [{"name": "e", "timestamp_ns": 1_500_000_000, "attributes": {"k": "v"}}],
        "resource": {"service.name": "svc"},
        **fields,
    }


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _run(server: ServerProcess) -> tuple[str, str]:
    run = server.ok("POST", "runs/create", json={"experiment_id": "0"})["run"]
    return run["info"]["run_id"], run["info"]["experiment_id"]  # type: ignore[index]


def test_server_info(server: ServerProcess) -> None:
    assert server.http.get(f"{PREFIX}/server-info").json() == {
        "server": "spanrun",
        "version": spanrun.__version__,
        "otlp_traces_path": "/v1/traces",
    }


def test_spans_and_traces(server: ServerProcess) -> None:
    run_id, experiment_id = _run(server)
    trace_id = uuid.uuid4().hex
    spans = [
        _span(trace_id, "a" * 16, None, name="root", run_id=run_id, experiment_id=experiment_id),
        _span(trace_id, "b" * 16, "a" * 16, run_id=run_id, experiment_id=experiment_id),
    ]
    response = server.http.post(f"{PREFIX}/spans/log", json={"spans": spans})
    assert response.status_code == 200 and response.json() == {}
    # Idempotent per (trace_id, span_id): a retried batch changes nothing.
    assert server.http.post(f"{PREFIX}/spans/log", json={"spans": spans}).status_code == 200

    trace = server.http.get(f"{PREFIX}/traces/get", params={"trace_id": trace_id}).json()["trace"]
    assert trace["info"]["trace_id"] == trace_id
    assert trace["info"]["span_count"] == 2
    assert trace["info"]["run_id"] == run_id
    by_id = {s["span_id"]: s for s in trace["spans"]}
    assert by_id["b" * 16]["parent_span_id"] == "a" * 16
    assert by_id["b" * 16]["events"] == spans[1]["events"]
    assert by_id["b" * 16]["attributes"] == spans[1]["attributes"]

    found = server.http.post(f"{PREFIX}/traces/search", json={"run_id": run_id}).json()
    assert [t["trace_id"] for t in found["traces"]] == [trace_id]
    by_experiment = server.http.post(
        f"{PREFIX}/traces/search", json={"experiment_ids": [experiment_id], "max_results": 1}
    ).json()
    assert len(by_experiment["traces"]) == 1
    missing = server.http.get(f"{PREFIX}/traces/get", params={"trace_id": "0" * 32})
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_log_export_batch(server: ServerProcess) -> None:
    run_id, _ = _run(server)
    unknown = "e" * 32
    calls = [[step, 1_000 + step, *[float(step + 1)] * len(CALL_METRICS)] for step in range(2)]
    calls[1][3] = None  # a call without that value
    body = {
        "runs": {
            run_id: {
                "metrics": [["custom", "NaN", 5, 0], ["custom", 1.5, 6, 1]],
                "params": {"llm.model": "m"},
                "tags": {"spanrun.x": "y"},
                "calls": calls,
            },
            unknown: {"metrics": [["m", 1, 1, 0]], "params": {}, "tags": {}},
        },
        "spans": [_span(uuid.uuid4().hex, "c" * 16, None, run_id=run_id)],
    }
    response = server.http.post(f"{PREFIX}/runs/log-export-batch", json=body)
    assert response.status_code == 200, response.text
    assert list(response.json()["skipped"]) == [unknown]

    store = get_store(server.backend_store_uri)
    history = store.get_metric_history(run_id, "custom")
    assert math.isnan(history[0].value) and history[1].value == 1.5
    run = store.get_run(run_id)
    assert run.data.params["llm.model"] == "m" and run.data.tags["spanrun.x"] == "y"
    assert [(m.step, m.value) for m in store.get_metric_history(run_id, CALL_METRICS[0])] == [
        (0, 1.0),
        (1, 2.0),
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("spans/log", {"spans": {"a": 1}}),
        ("spans/log", {"spans": [5]}),
        ("spans/log", {"spans": [{"trace_id": "xyz"}]}),
        ("spans/log", {"spans": [_span("A" * 32, "a" * 16, None)]}),
        ("spans/log", {"spans": [_span("a" * 32, "a" * 16, None, kind="WEIRD")]}),
        ("spans/log", {"spans": [_span("a" * 32, "a" * 16, None, start_time_ns="soon")]}),
        ("spans/log", {"spans": [_span("a" * 32, "a" * 16, None, attributes=[1])]}),
        ("spans/log", {"spans": [_span("a" * 32, "a" * 16, None, events=[{"name": 1}])]}),
        ("spans/log", {"spans": [_span("a" * 32, "a" * 16, None, surprise=1)]}),
        (
            "spans/log",
            {"spans": [_span("a" * 32, "a" * 16, None, attributes={"deep": _nested(600)})]},
        ),
        ("runs/log-export-batch", {"runs": []}),
        ("runs/log-export-batch", {"runs": {"r": []}}),
        ("runs/log-export-batch", {"runs": {"r": {"metrics": [["k", 1]]}}}),
        ("runs/log-export-batch", {"runs": {"r": {"metrics": [["k", "x", 1, 0]]}}}),
        ("runs/log-export-batch", {"runs": {"r": {"params": {"k": 1}}}}),
        ("runs/log-export-batch", {"runs": {"r": {"calls": [[0]]}}}),
        ("runs/log-export-batch", {"runs": {"r": {"calls": [[0, 1, "many"]]}}}),
        ("traces/search", {"max_results": -1}),
        ("traces/search", {"experiment_ids": "0"}),
    ],
)
def test_bad_bodies_are_400(server: ServerProcess, path: str, body: dict[str, Any]) -> None:
    response = server.http.post(f"{PREFIX}/{path}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
