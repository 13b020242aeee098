"""OTLP/HTTP answers as the specification says: JSON and protobuf bodies, partial success, 400,
413, 415, 503 with Retry-After under backpressure; a batch sent twice is counted once."""

from __future__ import annotations

import gzip
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.e2e._helpers import predictions, steps
from tests.server.otlp._bodies import as_protobuf, llm_span_json, request_json

JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}
T1, T2 = "5b8efff798038103d269b633813fc60c", "5b8efff798038103d269b633813fc60d"


def _run(store, name: str):
    (run,) = [r for r in store.search_runs(["0"]) if r.info.run_name == name]
    return run


def test_a_json_body_becomes_a_run_with_its_calls(store, receiver):
    body = request_json(
        llm_span_json(T1, "eee19b7ec3c1b174", question="json one", input_tokens="12"),
        llm_span_json(T2, "eee19b7ec3c1b175", question="json two", input_tokens=30),
    )
    answer = httpx.post(receiver.traces_url, json=body, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {}  # no partial success: everything was taken
    run = _run(store, "json-app")
    assert steps(store, run.info.run_id, "llm.input_tokens") == [(0, 12), (1, 30)]
    assert steps(store, run.info.run_id, "llm.output_tokens") == [(0, 7), (1, 7)]
    assert run.data.params["llm.temperature"] == "0.2"
    rows = predictions(store, run.info.run_id)
    assert rows["inputs"].tolist() == ["json one", "json two"]
    assert rows["outputs"].tolist() == ["ok: json one", "ok: json two"]
    (span,) = store.get_trace(T1).spans
    assert span.span_id == "eee19b7ec3c1b174"
    assert span.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert span.end_time_ns - span.start_time_ns == 250_000_000


def test_protobuf_answers_are_protobuf_and_partial_success_counts_rejected_spans(store, receiver):
    body = request_json(
        llm_span_json(T1, "eee19b7ec3c1b174"),
        llm_span_json(T2, "0000000000000000"),  # an all-zero span id: invalid
    )
    answer = httpx.post(receiver.traces_url, content=as_protobuf(body), headers=PROTOBUF)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-protobuf"
    message = ExportTraceServiceResponse.FromString(answer.content)
    assert message.partial_success.rejected_spans == 1
    assert "span_id" in message.partial_success.error_message
    assert steps(store, _run(store, "json-app").info.run_id, "llm.calls") == [(0, 1)]
    # The same in JSON.
    body = request_json(llm_span_json(T2, "eee19b7ec3c1b176"), llm_span_json("ab", "cd"))
    answer = httpx.post(receiver.traces_url, json=body, timeout=30)
    assert answer.status_code == 200
    assert answer.json()["partialSuccess"]["rejectedSpans"] == "1"


def _with_nested(field: str, raw: bytes) -> bytes:
    """A protobuf request whose one span (or resource) carries ``raw`` as a nested message."""
    from spanrun.server.otlp._wire import WireRequest

    request = WireRequest.FromString(
        as_protobuf(request_json(llm_span_json(T1, "eee19b7ec3c1b174")))
    )
    resource_spans = request.resource_spans[0]
    span = resource_spans.scope_spans[0].spans[0]
    if field == "resource":
        resource_spans.resource = raw
    elif field == "status":
        span.status = raw
    else:
        getattr(span, field).append(raw)
    return bytes(request.SerializeToString())


@pytest.mark.parametrize(
    ("field", "raw", "why"),
    [
        ("attributes", b"\xff\x01garbage", "attribute"),
        ("attributes", b"\x0a\x02\xff\xfe", "attribute"),  # a key that is not UTF-8
        ("events", b"\x0a\x05ab", "event"),  # truncated
        ("links", b"\xff\xff", "link"),
        ("status", b"\x12\x01\xff", "status"),  # a message that is not UTF-8
        ("resource", b"\x0a\x09\x0a", "resource"),
    ],
)
def test_a_nested_message_that_does_not_decode_is_400(shared_receiver, field, raw, why):
    """Protobuf bodies are parsed with the spans' nested messages as bytes (``_wire``): a broken
    one refuses the whole request when the spans are converted, as a broken body does."""
    answer = httpx.post(
        shared_receiver.traces_url, content=_with_nested(field, raw), headers=PROTOBUF, timeout=30
    )
    assert answer.status_code == 400
    message = status_pb2.Status.FromString(answer.content)
    assert message.code == code_pb2.INVALID_ARGUMENT
    assert why in message.message and "not a valid OTLP message" in message.message


@pytest.mark.parametrize(
    ("content", "headers", "status", "why"),
    [
        (b"\xff\x01garbage", PROTOBUF, 400, "protobuf"),
        (b"{not json", JSON, 400, "JSON"),
        (b"[1, 2]", JSON, 400, "object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
            JSON,
            400,
            "hex",
        ),
        (b'{"resourceSpans": "many"}', JSON, 400, "OTLP JSON"),
        (b"not gzip", {**PROTOBUF, "Content-Encoding": "gzip"}, 400, "gzip"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (b"{}", {**JSON, "Content-Encoding": "br"}, 415, "Content-Encoding"),
    ],
)
def test_bodies_that_do_not_decode_are_4xx_with_a_status(
    shared_receiver, content, headers, status, why
):
    answer = httpx.post(shared_receiver.traces_url, content=content, headers=headers, timeout=30)
    assert answer.status_code == status
    if headers["Content-Type"] == PROTOBUF["Content-Type"]:
        message = status_pb2.Status.FromString(answer.content)
        assert (message.code, why in message.message) == (code_pb2.INVALID_ARGUMENT, True)
    else:
        assert why in answer.json()["message"]


def test_bodies_over_the_limit_are_413_even_when_gzip_hides_it(receiver_factory):
    receiver = receiver_factory(max_body_bytes=64 * 1024)
    big = b"x" * (65 * 1024)
    answer = httpx.post(receiver.traces_url, content=big, headers=PROTOBUF)
    assert answer.status_code == 413
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))  # 50 MB of zeros in ~50 kB
    assert len(bomb) < 64 * 1024
    answer = httpx.post(
        receiver.traces_url, content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 413
    assert "decompressed" in status_pb2.Status.FromString(answer.content).message

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(80):
            yield b"y" * 1024

    answer = httpx.post(receiver.traces_url, content=chunks(), headers=PROTOBUF)
    assert answer.status_code == 413


def test_a_batch_sent_again_is_counted_once(store, receiver):
    old = time.time_ns() - 3_600 * 10**9  # ended before the receiver started: checked in the store
    fresh = request_json(llm_span_json(T1, "eee19b7ec3c1b174", question="fresh"))
    older = request_json(llm_span_json(T2, "eee19b7ec3c1b175", question="old", end_ns=old))
    for _ in range(3):
        for body in (fresh, older):
            assert httpx.post(receiver.traces_url, json=body, timeout=30).status_code == 200
    run_id = _run(store, "json-app").info.run_id
    assert steps(store, run_id, "llm.calls") == [(0, 1), (1, 2)]
    assert predictions(store, run_id)["inputs"].tolist() == ["fresh", "old"]
    # A new receiver process knows nothing in memory: the store tells what was counted.
    receiver.kill()
    receiver.start()
    assert httpx.post(receiver.traces_url, json=older, timeout=30).status_code == 200
    later = request_json(llm_span_json(T2, "eee19b7ec3c1b177", question="later"))
    assert httpx.post(receiver.traces_url, json=later, timeout=30).status_code == 200
    (restarted,) = [
        r
        for r in store.search_runs(["0"])
        if r.info.run_name == "json-app" and r.info.run_id != run_id
    ]
    assert steps(store, restarted.info.run_id, "llm.calls") == [(0, 1)]
    assert steps(store, run_id, "llm.calls") == [(0, 1), (1, 2)]


def test_a_full_queue_answers_503_with_retry_after(store, receiver_factory, tracking_uri):
    receiver = receiver_factory(max_queued_spans=1)
    # Hold the store's write lock: the first request waits in the queue.
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    lock = sqlite3.connect(database, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    first: list[httpx.Response] = []
    body = request_json(llm_span_json(T1, "eee19b7ec3c1b174", question="waits"))
    sender = threading.Thread(
        target=lambda: first.append(httpx.post(receiver.traces_url, json=body, timeout=60))
    )
    try:
        sender.start()
        time.sleep(1.0)  # the first request is in the receiver, waiting for the store
        second = request_json(llm_span_json(T2, "eee19b7ec3c1b175", question="refused"))
        answer = httpx.post(receiver.traces_url, json=second, timeout=10)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "1"
        assert "full" in answer.json()["message"]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        sender.join(60)
    assert first[0].status_code == 200
    # Retried once there is room: taken.
    assert httpx.post(receiver.traces_url, json=second, timeout=30).status_code == 200
    rows = predictions(store, _run(store, "json-app").info.run_id)
    assert rows["inputs"].tolist() == ["waits", "refused"]


def test_ingest_into_postgresql(postgres_uri):
    from spanrun.store import get_store
    from tests.server.otlp._fixtures import ReceiverProcess

    receiver = ReceiverProcess(postgres_uri)
    receiver.start()
    try:
        body = request_json(
            llm_span_json(T1, "eee19b7ec3c1b174", question="pg one"),
            llm_span_json(T2, "eee19b7ec3c1b175", question="pg two", input_tokens=3),
            service="pg-app",
        )
        headers = {"x-spanrun-experiment": "otlp-on-postgres"}
        for _ in range(2):  # sent again: counted once
            answer = httpx.post(receiver.traces_url, json=body, headers=headers, timeout=30)
            assert answer.status_code == 200
    finally:
        receiver.stop()
    store = get_store(postgres_uri)
    experiment = store.get_experiment_by_name("otlp-on-postgres")
    assert experiment is not None
    (run,) = store.search_runs([experiment.experiment_id])
    assert run.info.run_name == "pg-app"
    assert run.info.status == "FINISHED"  # the receiver's shutdown ended its session run
    assert steps(store, run.info.run_id, "llm.input_tokens") == [(0, 12), (1, 3)]
    assert predictions(store, run.info.run_id)["inputs"].tolist() == ["pg one", "pg two"]
    assert {t.trace_id for t in store.search_traces([experiment.experiment_id])} == {T1, T2}


def test_a_deleted_experiment_is_refused_with_400(store, receiver):
    experiment_id = store.create_experiment("gone")
    store.delete_experiment(experiment_id)
    body = request_json(llm_span_json(T1, "eee19b7ec3c1b174"))
    for chosen in ("gone", experiment_id):
        answer = httpx.post(
            receiver.traces_url, json=body, headers={"x-spanrun-experiment": chosen}, timeout=30
        )
        assert answer.status_code == 400
        assert "deleted" in answer.json()["message"]
    assert store.search_runs([experiment_id]) == []
