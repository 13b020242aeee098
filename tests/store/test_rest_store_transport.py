"""The REST store's HTTP behaviour against tiny real HTTP servers that answer as scripted:
retries with backoff (connection errors, 429, 503, Retry-After), what is not retried, error
bodies as typed exceptions, credentials, keep-alive, and asking the server's kind once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from spanrun.core.entities import SpanRecord
from spanrun.errors import (
    AlreadyExistsError,
    InvalidFilterError,
    InvalidInputError,
    InvalidParamChangeError,
    InvalidStateError,
    NotFoundError,
    SpanrunError,
    StoreError,
    TableSchemaError,
    UnsafePathError,
)
from spanrun.store.rest import RestStore, TransportSettings
from tests._rest_servers import ScriptedServer, free_port

RUN = {
    "info": {
        "run_id": "abc",
        "experiment_id": "0",
        "run_name": "r",
        "status": "RUNNING",
        "start_time": "1700000000000",  # int64 as a string, as protobuf JSON may send it
        "artifact_uri": "mlflow-artifacts:/0/abc/artifacts",
        "lifecycle_stage": "active",
    },
    "data": {
        "metrics": [{"key": "m", "value": "NaN", "timestamp": 1, "step": 0}],
        "params": [{"key": "p", "value": "1"}],
        "tags": [{"key": "t", "value": "x"}],
    },
}
OK_RUN = (200, {"Content-Type": "application/json"}, json.dumps({"run": RUN}).encode())


def _json(status: int, payload: object, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode()


def _store(uri: str, retries: int = 5, backoff: float = 0.01) -> RestStore:
    return RestStore(
        uri, settings=TransportSettings(timeout=10, max_retries=retries, backoff_factor=backoff)
    )


@pytest.fixture
def closing() -> Iterator[list[RestStore]]:
    stores: list[RestStore] = []
    yield stores
    for store in stores:
        store.close()


def test_503_then_200_is_retried_after_retry_after(closing: list[RestStore]) -> None:
    def respond(_handler: object, n: int) -> tuple[int, dict[str, str], bytes]:
        if n < 2:
            return _json(503, {"error_code": "TEMPORARILY_UNAVAILABLE"}, **{"Retry-After": "0.3"})
        return OK_RUN

    with ScriptedServer(respond) as server:
        store = _store(server.uri)
        closing.append(store)
        run = store.get_run("abc")
    assert run.info.run_id == "abc"
    assert run.info.start_time == 1_700_000_000_000
    assert run.data.params == {"p": "1"}
    assert run.data.metrics["m"] != run.data.metrics["m"]  # "NaN" read as NaN
    assert len(server.requests) == 3
    gaps = [b - a for a, b in zip(server.times, server.times[1:], strict=False)]
    assert all(gap >= 0.28 for gap in gaps), gaps  # Retry-After (0.3 s) beat the 0.01 s backoff


def test_429_is_retried_with_exponential_backoff_then_gives_up(closing: list[RestStore]) -> None:
    with ScriptedServer(
        lambda _h, _n: _json(429, {"error_code": "REQUEST_LIMIT_EXCEEDED"})
    ) as server:
        store = _store(server.uri, retries=3, backoff=0.05)
        closing.append(store)
        with pytest.raises(StoreError, match="429"):
            store.get_run("abc")
    assert len(server.requests) == 4  # the call and 3 retries: bounded
    gaps = [b - a for a, b in zip(server.times, server.times[1:], strict=False)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.19, gaps


def test_a_refused_connection_is_retried_then_a_store_error(closing: list[RestStore]) -> None:
    store = _store(f"http://127.0.0.1:{free_port()}", retries=2)
    closing.append(store)
    with pytest.raises(StoreError, match="after 3 attempts"):
        store.get_run("abc")


def test_a_500_is_not_retried(closing: list[RestStore]) -> None:
    with ScriptedServer(
        lambda _h, _n: _json(500, {"error_code": "INTERNAL_ERROR", "message": "boom"})
    ) as server:
        store = _store(server.uri)
        closing.append(store)
        with pytest.raises(StoreError, match="boom"):
            store.log_batch("abc")
    assert len(server.requests) == 1  # it may have been written: not sent twice


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (404, "RESOURCE_DOES_NOT_EXIST", "Run 'abc' not found", NotFoundError),
        (400, "RESOURCE_ALREADY_EXISTS", "Experiment 'x' already exists", AlreadyExistsError),
        (400, "INVALID_PARAMETER_VALUE", "bad key", InvalidInputError),
        (400, "INVALID_STATE", "Run 'abc' is deleted", InvalidStateError),
        # A stock MLflow server says these two only in the message:
        (
            400,
            "INVALID_PARAMETER_VALUE",
            "Changing param values is not allowed. Param p",
            InvalidParamChangeError,
        ),
        (
            400,
            "INVALID_PARAMETER_VALUE",
            "The run abc must be in the 'active' state.",
            InvalidStateError,
        ),
        (401, "UNAUTHENTICATED", "no token", StoreError),
        (403, "PERMISSION_DENIED", "wrong token", StoreError),
        (500, "INTERNAL_ERROR", "disk full", StoreError),
    ],
)
def test_error_bodies_become_the_local_stores_exceptions(
    closing: list[RestStore], status: int, code: str, message: str, expected: type[SpanrunError]
) -> None:
    with ScriptedServer(
        lambda _h, _n: _json(status, {"error_code": code, "message": message})
    ) as server:
        store = _store(server.uri)
        closing.append(store)
        with pytest.raises(expected) as raised:
            store.log_batch("abc")
    assert type(raised.value) is expected
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("InvalidFilterError", InvalidFilterError),
        ("TableSchemaError", TableSchemaError),
        ("UnsafePathError", UnsafePathError),
        ("NotASpanrunError", InvalidInputError),  # unknown names: the error code decides
        ("StoreError", InvalidInputError),  # not for a 4xx
    ],
)
def test_the_error_class_a_spanrun_server_names_is_raised(
    closing: list[RestStore], name: str, expected: type[SpanrunError]
) -> None:
    body = {"error_code": "INVALID_PARAMETER_VALUE", "message": "no", "spanrun_error": name}
    with ScriptedServer(lambda _h, _n: _json(400, body)) as server:
        store = _store(server.uri)
        closing.append(store)
        with pytest.raises(expected) as raised:
            store.log_batch("abc")
    assert type(raised.value) is expected


def test_a_bad_search_filter_is_an_invalid_filter_error(closing: list[RestStore]) -> None:
    def respond(handler: object, _n: int) -> tuple[int, dict[str, str], bytes]:
        if handler.path.startswith("/api/2.0/spanrun/"):  # type: ignore[attr-defined]
            return 404, {}, b"<p>Not Found</p>"  # a stock MLflow server: its grammar decides
        return _json(
            400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid comparator"}
        )

    with ScriptedServer(respond) as server:
        store = _store(server.uri)
        closing.append(store)
        with pytest.raises(InvalidFilterError, match="Invalid comparator"):
            store.search_runs(["0"], "metrics.x >>> 1")


def test_a_404_without_an_error_body_names_the_endpoint(closing: list[RestStore]) -> None:
    with ScriptedServer(
        lambda _h, _n: (404, {"Content-Type": "text/html"}, b"<p>Not Found</p>")
    ) as server:
        store = _store(server.uri)
        closing.append(store)
        with pytest.raises(StoreError, match=r"no endpoint GET /api/2\.0/mlflow/runs/get"):
            store.get_run("abc")


def test_not_json_is_a_store_error(closing: list[RestStore]) -> None:
    with ScriptedServer(lambda _h, _n: (200, {}, b"<html>proxy login</html>")) as server:
        store = _store(server.uri)
        closing.append(store)
        with pytest.raises(StoreError, match="not JSON"):
            store.get_run("abc")


def test_credentials_keep_alive_and_json_numbers(
    closing: list[RestStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPANRUN_TRACKING_TOKEN", "s3cret")
    from spanrun.core.entities import Metric

    with ScriptedServer(lambda _h, _n: _json(200, {})) as server:
        store = _store(server.uri)
        closing.append(store)
        for _ in range(5):
            store.log_batch("abc", metrics=[Metric("m", float("inf"), 5, 1)])
        monkeypatch.delenv("SPANRUN_TRACKING_TOKEN")
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ann")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
        store.log_checked_metrics("abc", [("n", float("nan"), 6, 2)])
    auth = [headers.get("Authorization") for _, _, headers, _ in server.requests]
    assert auth == ["Bearer s3cret"] * 5 + ["Basic YW5uOnB3"]
    assert len(set(server.client_ports)) == 1  # one kept-alive connection
    first = json.loads(server.requests[0][3])
    assert first["metrics"] == [{"key": "m", "value": "Infinity", "timestamp": 5, "step": 1}]
    last = json.loads(server.requests[-1][3])
    assert last["metrics"] == [{"key": "n", "value": "NaN", "timestamp": 6, "step": 2}]


def test_log_batch_splits_within_mlflows_limits(closing: list[RestStore]) -> None:
    from spanrun.core.entities import Metric, Param, RunTag

    with ScriptedServer(lambda _h, _n: _json(200, {})) as server:
        store = _store(server.uri)
        closing.append(store)
        store.log_batch(
            "abc",
            metrics=[Metric("m", 1.0, 1, i) for i in range(1500)],
            params=[Param(f"p{i}", "v") for i in range(150)] + [Param("p0", "v")],
            tags=[RunTag(f"t{i}", "v") for i in range(120)],
        )
        with pytest.raises(InvalidParamChangeError):
            store.log_batch("abc", params=[Param("x", "1"), Param("x", "2")])
    bodies = [json.loads(body) for _, _, _, body in server.requests]
    sizes = [(len(b["metrics"]), len(b["params"]), len(b["tags"])) for b in bodies]
    assert sizes == [(0, 100, 100), (930, 50, 20), (570, 0, 0)]  # params before any metric
    assert all(sum(s) <= 1000 for s in sizes)
    assert sum(s[0] for s in sizes) == 1500


def test_the_server_kind_is_asked_once(closing: list[RestStore]) -> None:
    def respond(handler: object, _n: int) -> tuple[int, dict[str, str], bytes]:
        path = handler.path  # type: ignore[attr-defined]
        if path.startswith("/api/2.0/spanrun/server-info"):
            return _json(
                200, {"server": "spanrun", "version": "0", "otlp_traces_path": "/v1/traces"}
            )
        return _json(200, {})

    span = SpanRecord("ab" * 16, "cd" * 8, None, "chat", "CLIENT", 1, 2, run_id="abc")
    with ScriptedServer(respond) as server:
        store = _store(server.uri)
        closing.append(store)
        for _ in range(3):
            store.log_spans([span])
        assert store.log_export_batch({"abc": ([("m", float("nan"), 1, 0)], {"p": "1"}, {})}) == {}
    paths = [path for _, path, _, _ in server.requests]
    assert paths.count("/api/2.0/spanrun/server-info") == 1
    assert paths.count("/api/2.0/spanrun/spans/log") == 3
    sent = json.loads(server.requests[1][3])["spans"][0]
    assert (sent["trace_id"], sent["span_id"], sent["run_id"]) == ("ab" * 16, "cd" * 8, "abc")
    export = json.loads(server.requests[-1][3])
    assert export["runs"]["abc"]["metrics"] == [["m", "NaN", 1, 0]]
    assert export["runs"]["abc"]["params"] == {"p": "1"}


def test_bad_uris_are_refused() -> None:
    for uri in ("http://", "http://host:port", "http://h:5000/?x=1"):
        with pytest.raises(InvalidInputError):
            RestStore(uri)


def test_spans_to_a_server_without_trace_routes_warn_once(
    closing: list[RestStore], caplog: pytest.LogCaptureFixture
) -> None:
    def respond(handler: object, _n: int) -> tuple[int, dict[str, str], bytes]:
        path = handler.path  # type: ignore[attr-defined]
        if path.startswith(("/api/2.0/spanrun/", "/v1/traces")):  # an MLflow before 3
            return 404, {}, b"<p>Not Found</p>"
        return _json(200, {})

    caplog.set_level("WARNING", logger="spanrun.store.rest")
    span = SpanRecord("ab" * 16, "cd" * 8, None, "chat", "CLIENT", 1, 2, run_id="abc")
    with ScriptedServer(respond) as server:
        store = _store(server.uri)
        closing.append(store)
        for _ in range(3):
            store.log_spans([span])
        assert store.log_export_batch({"abc": ([("m", 1.0, 1, 0)], {}, {})}, [span]) == {}
        assert store.search_traces() == []
    paths = [path for _, path, _, _ in server.requests]
    assert paths.count("/v1/traces") == 1
    assert paths.count("/api/2.0/spanrun/server-info") == 1
    assert "/api/2.0/mlflow/runs/log-batch" in paths  # the batch went as MLflow calls
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "spans are not stored" in warnings[0], warnings


def test_artifact_requests_are_retried_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spanrun.artifacts import get_artifact_repository

    monkeypatch.setenv("SPANRUN_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")

    def respond(handler: object, n: int) -> tuple[int, dict[str, str], bytes]:
        if n % 2 == 0:  # every first try is refused
            return _json(503, {"error_code": "TEMPORARILY_UNAVAILABLE"}, **{"Retry-After": "0.1"})
        return 200, {}, b"stored bytes"

    local = tmp_path / "upload.bin"
    local.write_bytes(b"0123456789" * 1000)
    with ScriptedServer(respond) as server:
        repo = get_artifact_repository(f"{server.uri}/api/2.0/mlflow-artifacts/artifacts/1/r")
        repo.log_artifact(str(local))
        assert repo.read_bytes("x.txt") == b"stored bytes"
    puts = [body for method, _, _, body in server.requests if method == "PUT"]
    assert puts == [local.read_bytes()] * 2  # the file sent again, whole
    assert [path for _, path, _, _ in server.requests][2:] == [
        "/api/2.0/mlflow-artifacts/artifacts/1/r/x.txt"
    ] * 2
    assert server.times[1] - server.times[0] >= 0.09  # Retry-After


def test_large_export_batches_are_split_under_the_size_limit(
    closing: list[RestStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanrun.store.rest import _traces as rest_traces_module

    monkeypatch.setattr(rest_traces_module, "_MAX_REQUEST_BYTES", 20_000)

    def respond(handler: object, _n: int) -> tuple[int, dict[str, str], bytes]:
        if handler.path.startswith("/api/2.0/spanrun/server-info"):  # type: ignore[attr-defined]
            return _json(200, {"server": "spanrun"})
        return _json(200, {"skipped": {}})

    spans = [
        SpanRecord(f"{i:032x}", f"{i:016x}", None, "chat", "CLIENT", 1, 2, {"text": "x" * 1000})
        for i in range(60)
    ]
    with ScriptedServer(respond) as server:
        store = _store(server.uri)
        closing.append(store)
        assert store.log_export_batch({"abc": ([("m", 1.0, 1, 0)], {}, {})}, spans) == {}
    posts = [(path, json.loads(body)) for method, path, _, body in server.requests if body]
    assert posts[0][0] == "/api/2.0/spanrun/runs/log-export-batch"
    assert posts[0][1]["runs"]["abc"]["metrics"] == [["m", 1.0, 1, 0]]
    assert {path for path, _ in posts[1:]} == {"/api/2.0/spanrun/spans/log"}
    sent = [s["span_id"] for _, body in posts for s in body["spans"]]
    assert sent == [s.span_id for s in spans]  # each once, in order
    assert len(posts) >= 4
    assert all(len(body) <= 20_000 + 2_000 for _, _, _, body in server.requests)


def test_an_export_batch_is_encoded_when_prepared(closing: list[RestStore]) -> None:
    def respond(handler: object, _n: int) -> tuple[int, dict[str, str], bytes]:
        if handler.path.startswith("/api/2.0/spanrun/server-info"):  # type: ignore[attr-defined]
            return _json(200, {"server": "spanrun"})
        return _json(200, {"skipped": {"gone": "Run 'gone' not found"}})

    good = SpanRecord("ab" * 16, "cd" * 8, None, "chat", "CLIENT", 1, 2)
    bad = SpanRecord("ab" * 16, "ef" * 8, None, "chat \udcff", "CLIENT", 1, 2)
    with ScriptedServer(respond) as server:
        store = _store(server.uri)
        closing.append(store)
        # Text without a UTF-8 form is bad input at once (the exporter then leaves that span
        # out), before anything is sent.
        with pytest.raises(InvalidInputError, match="cannot be sent as JSON"):
            store.prepare_export_batch({}, [good, bad])
        send = store.prepare_export_batch({"gone": ([("m", 1.0, 1, 0)], {}, {})}, [good])
        sent_before = len(server.requests)
        assert send() == {"gone": "Run 'gone' not found"}
        assert send() == {"gone": "Run 'gone' not found"}  # may be called again to retry
    assert sent_before == 1  # the server-info question only
    assert len(server.requests) == 3
