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
