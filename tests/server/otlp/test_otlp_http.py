"""OTLP/HTTP ingest end to end: spans of real openai calls, sent by the official OTLP exporter
to the receiver in a real uvicorn process, become runs, per-call metrics, params, prediction
rows and traces in the store."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

import spanrun
from spanrun.store.base import Store
from tests.e2e._helpers import chat, predictions, steps
from tests.server.otlp._senders import instrumented_sender


def _session_run(store: Store, name: str, experiment_id: str = "0"):
    (run,) = [r for r in store.search_runs([experiment_id]) if r.info.run_name == name]
    return run


def test_protobuf_spans_become_a_session_run_per_service(client, store, receiver):
    with instrumented_sender(OTLPSpanExporter(endpoint=receiver.traces_url)):
        chat(client, "first question", temperature=0.5)
        chat(client, "second question", temperature=0.5)
        chat(client, "third question", temperature=0.5)
    run = _session_run(store, "chat-app")
    run_id = run.info.run_id
    assert run.data.tags["spanrun.run_mode"] == "session"
    assert run.info.status == "RUNNING"
    assert run.data.params["llm.model"] == "gpt-4o-mini"
    assert run.data.params["llm.temperature"] == "0.5"
    assert steps(store, run_id, "llm.calls") == [(0, 1), (1, 2), (2, 3)]
    input_tokens = steps(store, run_id, "llm.input_tokens")
    assert [step for step, _ in input_tokens] == [0, 1, 2]
    assert all(value > 0 for _, value in input_tokens)
    assert run.data.metrics["llm.cumulative_input_tokens"] == sum(v for _, v in input_tokens)
    assert len(steps(store, run_id, "llm.latency_ms")) == 3
    rows = predictions(store, run_id)
    assert rows["inputs"].tolist() == ["first question", "second question", "third question"]
    assert rows["outputs"].tolist() == [
        "Echo: first question",
        "Echo: second question",
        "Echo: third question",
    ]
    assert set(rows["model"]) == {"gpt-4o-mini"}
    traces = store.search_traces(run_id=run_id)
    assert len(traces) == 3
    trace = store.get_trace(traces[0].trace_id)
    (span,) = trace.spans
    assert span.name == "chat gpt-4o-mini"
    assert span.kind == "CLIENT"
    assert span.attributes["gen_ai.request.temperature"] == 0.5
    assert span.resource["service.name"] == "chat-app"
    assert span.span_id in rows["span_id"].tolist()


def test_spans_stamped_with_a_run_go_to_that_run(client, store, receiver):
    with instrumented_sender(OTLPSpanExporter(endpoint=receiver.traces_url)):
        with spanrun.start_run(run_name="mine") as run:
            chat(client, "inside my run")
        chat(client, "outside any run")
    run_id = run.info.run_id
    assert steps(store, run_id, "llm.calls") == [(0, 1)]
    assert predictions(store, run_id)["inputs"].tolist() == ["inside my run"]
    session = _session_run(store, "chat-app")
    assert predictions(store, session.info.run_id)["inputs"].tolist() == ["outside any run"]


def test_gzip_and_a_header_choosing_the_experiment(client, store, receiver):
    exporter = OTLPSpanExporter(
        endpoint=receiver.traces_url,
        compression=Compression.Gzip,
        headers={"x-spanrun-experiment": "from-collector"},
    )
    with instrumented_sender(exporter, service_name="gzipped"):
        chat(client, "compressed")
    experiment = store.get_experiment_by_name("from-collector")
    assert experiment is not None
    run = _session_run(store, "gzipped", experiment.experiment_id)
    assert predictions(store, run.info.run_id)["inputs"].tolist() == ["compressed"]


def test_a_resource_attribute_chooses_the_experiment_over_the_header(client, store, receiver):
    exporter = OTLPSpanExporter(
        endpoint=receiver.traces_url, headers={"x-spanrun-experiment": "from-header"}
    )
    resource = {"spanrun.experiment_name": "from-resource"}
    with instrumented_sender(exporter, service_name="svc", **resource):
        chat(client, "where do I go")
    experiment = store.get_experiment_by_name("from-resource")
    assert experiment is not None
    assert store.get_experiment_by_name("from-header") is None
    run = _session_run(store, "svc", experiment.experiment_id)
    assert steps(store, run.info.run_id, "llm.calls") == [(0, 1)]
