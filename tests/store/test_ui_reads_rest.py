"""The UI's reads through the REST store: one request each to a spanrun server (a real uvicorn
process), and MLflow's routes with the Store defaults against a stock ``mlflow server``."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import httpx
import pytest

import spanrun
from spanrun.core.entities import Metric, Param, RunTag, SpanRecord
from spanrun.errors import InvalidFilterError, InvalidInputError, NotFoundError
from spanrun.store import TraceFilter, get_store
from spanrun.store._downsample import downsample
from spanrun.store.rest import RestStore
from tests._rest_servers import spanrun_server

try:
    from spanrun.server import create_app  # noqa: F401
except ImportError:  # a checkout without the server
    pytest.skip("spanrun.server is not available", allow_module_level=True)


@pytest.fixture(scope="module")
def server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with spanrun_server(tmp_path_factory.mktemp("spanrun-server")) as server:
        yield server.uri


def _rest_store(uri: str) -> RestStore:
    spanrun.set_tracking_uri(uri)
    found = get_store(uri)
    assert isinstance(found, RestStore)
    return found


def _fill(store: RestStore) -> tuple[str, list[str]]:
    experiment = store.create_experiment(f"e-{uuid.uuid4().hex[:10]}")
    runs = []
    for i in range(3):
        run_id = store.create_run(experiment, "me", 1000 + i, [], f"r{i}").info.run_id
        metrics = [Metric("loss", math.sin(s / 10) + i, 1000 + s, s) for s in range(500)]
        for start in range(0, len(metrics), 250):
            store.log_batch(run_id, metrics=metrics[start : start + 250])
        store.log_batch(run_id, params=[Param("lr", str(i)), Param(f"only{i}", "x")])
        store.log_batch(run_id, tags=[RunTag("team", "a")])
        runs.append(run_id)
    return experiment, runs


def test_a_spanrun_server_answers_each_read_in_one_request(server_uri: str) -> None:
    store = _rest_store(server_uri)
    experiment, runs = _fill(store)
    full = store.get_metric_history(runs[0], "loss")
    assert len(full) == 500
    sampled = store.get_metric_history(runs[0], "loss", max_points=40)
    assert 20 < len(sampled) <= 40
    assert sampled == downsample(full, 40)  # the server's SQL and Python agree
    found = store.get_metric_histories(runs, ["loss"], 40)
    assert [(h.run_id, h.total) for h in found] == [(r, 500) for r in runs]
    assert found[0].points == sampled
    assert store.get_runs([runs[2], runs[0]]) == [store.get_run(runs[2]), store.get_run(runs[0])]
    assert store.get_runs([runs[1]])[0].data.params == {"lr": "1", "only1": "x"}
    assert store.count_runs([experiment]) == 3
    assert store.count_runs([experiment], "params.lr = '1'") == 1
    keys = store.distinct_keys([experiment])
    assert keys.params == ["lr", "only0", "only1", "only2"]
    assert keys.metrics == ["loss"] and "team" in keys.tags
    with pytest.raises(InvalidFilterError):
        store.count_runs([experiment], "params.lr =")
    with pytest.raises(NotFoundError):
        store.get_metric_histories([runs[0], "f" * 32], ["loss"])
    with pytest.raises(NotFoundError):
        store.get_runs([runs[0], "f" * 32])
    with pytest.raises(InvalidInputError):
        store.get_metric_history(runs[0], "loss", max_points=1)


def test_trace_filters_go_to_the_server(server_uri: str) -> None:
    store = _rest_store(server_uri)
    experiment = store.create_experiment(f"t-{uuid.uuid4().hex[:10]}")
    base = 1_700_000_000_000 * 1_000_000
    store.log_spans(
        [
            SpanRecord(
                trace_id=f"{uuid.uuid4().hex}",
                span_id=f"{i + 1:016x}",
                parent_span_id=None,
                name=name,
                kind="INTERNAL",
                start_time_ns=base + i * 10**9,
                end_time_ns=base + i * 10**9 + ms * 1_000_000,
                status_code=status,
                experiment_id=experiment,
            )
            for i, (name, ms, status) in enumerate([("chat", 30, "OK"), ("embed", 300, "ERROR")])
        ]
    )
    slow = store.search_traces([experiment], trace_filter=TraceFilter(min_duration_ms=100))
    assert [t.name for t in slow] == ["embed"]
    named = store.search_traces([experiment], trace_filter=TraceFilter(name="CHA", status="OK"))
    assert [t.name for t in named] == ["chat"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("metrics/get-histories", {"run_ids": "notalist", "keys": ["x"]}),
        ("metrics/get-histories", {"run_ids": ["a"], "keys": ["x"], "max_points": "many"}),
        ("metrics/get-histories", {"run_ids": ["a"] * 2000, "keys": ["x"], "max_points": 0}),
        ("runs/get-many", {"run_ids": "notalist"}),
        ("runs/get-many", {"run_ids": [f"r{i}" for i in range(1001)]}),
        ("runs/count", {"experiment_ids": ["0"], "filter": "metrics.x >"}),
        ("runs/count", {"experiment_ids": 5}),
        ("runs/distinct-keys", {"experiment_ids": ["0"], "run_view_type": "SOME"}),
        ("traces/search", {"experiment_ids": ["0"], "status": "MAYBE"}),
        ("traces/search", {"experiment_ids": ["0"], "min_duration_ms": "slow"}),
    ],
)
def test_bad_input_is_a_4xx_in_mlflow_shape(server_uri: str, path: str, body: object) -> None:
    answer = httpx.post(f"{server_uri}/api/2.0/spanrun/{path}", json=body, timeout=30)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


def test_a_stock_mlflow_server_gets_the_same_answers(mlflow_server_uri: str) -> None:
    store = _rest_store(mlflow_server_uri)
    assert store.server_kind() == "mlflow"
    experiment, runs = _fill(store)
    full = store.get_metric_history(runs[1], "loss")
    assert store.get_metric_history(runs[1], "loss", max_points=40) == downsample(full, 40)
    found = store.get_metric_histories(runs, ["loss"], 40)
    assert [(h.run_id, h.total, len(h.points) <= 40) for h in found] == [
        (r, 500, True) for r in runs
    ]
    assert store.get_runs([runs[1], runs[0]]) == [store.get_run(runs[1]), store.get_run(runs[0])]
    assert store.count_runs([experiment], "params.lr = '2'") == 1
    assert store.distinct_keys([experiment]).params == ["lr", "only0", "only1", "only2"]
