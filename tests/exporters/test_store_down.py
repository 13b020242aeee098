"""A store that is down costs a bounded number of attempts per batch, never one per span."""

from __future__ import annotations

import os
from typing import Any

import pytest

from spanrun.errors import StoreError
from tests._fork import in_forked_child

from ._genai_spans import llm_call


def test_store_down_fails_fast_for_the_rest_of_the_batch(store, make_pipeline, monkeypatch):
    p = make_pipeline(store, run_mode="session", max_attempts=3, retry_delay_s=0)
    attempts: list[str] = []

    def down(*args: Any, **kwargs: Any) -> Any:
        attempts.append("create_run")
        raise StoreError("database is locked")

    monkeypatch.setattr(store, "create_run", down)
    for _ in range(50):
        llm_call(p.tracer)
    p.flush()
    assert len(attempts) == 3  # one operation retried, then the batch is dropped
    assert p.exporter.dropped_spans == 50
    assert p.exporter.refused_spans == 0  # the store failed: sending them again may work
    monkeypatch.undo()
    # The store is back: the next batch goes through.
    llm_call(p.tracer)
    p.flush()
    run = store.get_run(p.exporter.session_run_id)
    assert run.data.metrics["llm.calls"] == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_session_run(store, make_pipeline):
    p = make_pipeline(store, run_mode="session")
    llm_call(p.tracer, user="parent")
    p.flush()

    def child() -> None:  # its own queue, worker and session run
        llm_call(p.tracer, user="child 1")
        llm_call(p.tracer, user="child 2")
        p.flush()
        p.exporter.finish_open_runs()

    assert in_forked_child(child) == 0
    parent_run = p.exporter.session_run_id
    runs = {r.info.run_id: r for r in store.search_runs(["0"])}
    assert len(runs) == 2
    (child_run,) = [r for rid, r in runs.items() if rid != parent_run]
    assert child_run.data.metrics["llm.calls"] == 2
    assert child_run.info.status == "FINISHED"
    assert runs[parent_run].data.metrics["llm.calls"] == 1
    assert runs[parent_run].info.status == "RUNNING"


def test_calls_of_a_lost_write_are_not_counted_when_sent_again(store, monkeypatch):
    # An OTLP sender retries a batch the store failed to take: the run's call index and
    # running totals follow what the store holds, not what the lost write had counted.
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from spanrun.exporters import RunExporter

    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for tokens in (1, 2, 4):
        llm_call(provider.get_tracer("t"), input_tokens=tokens)
    first, second, third = memory.get_finished_spans()
    exporter = RunExporter(store, run_mode="session", max_attempts=2, retry_delay_s=0)
    exporter.export([first])
    assert exporter.force_flush()

    def down(*args: Any, **kwargs: Any) -> Any:
        def job() -> Any:
            raise StoreError("disk I/O error")

        return job

    monkeypatch.setattr(store, "prepare_export_batch", down)
    exporter.export([second])
    assert exporter.force_flush()
    assert exporter.dropped_spans == 1
    monkeypatch.undo()
    exporter.export([second])  # sent again
    exporter.export([third])
    assert exporter.force_flush()
    run_id = exporter.session_run_id
    history = store.get_metric_history(run_id, "llm.calls")
    assert [(m.step, m.value) for m in history] == [(0, 1), (1, 2), (2, 3)]
    assert store.get_run(run_id).data.metrics["llm.cumulative_input_tokens"] == 7
    exporter.shutdown()
