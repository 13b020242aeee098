"""Fault injection: a store that raises, is locked or is read-only never affects the user."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest

import openai
import spanrun
from spanrun.errors import StoreError
from tests._store_writes import patch_export_write

from ._helpers import predictions


def workload(client: openai.OpenAI) -> list[Any]:
    """What the user's program sees from a mix of calls (ids and timestamps left out)."""
    seen: list[Any] = []
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], temperature=0.1
    )
    seen.append((reply.model, reply.choices[0].message.content, reply.usage.model_dump()))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    seen.append([(c.choices[0].delta.content if c.choices else None) for c in stream])
    emb = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    seen.append([d.embedding for d in emb.data])
    try:
        client.chat.completions.create(
            model="model-does-not-exist", messages=[{"role": "user", "content": "x"}]
        )
    except openai.NotFoundError as exc:
        seen.append((type(exc), exc.status_code, exc.body))
    return seen


@pytest.fixture
def baseline(client) -> list[Any]:
    return workload(client)  # before autolog: the plain client


def test_store_raising_on_every_write(
    autolog, client, export_writer, baseline, monkeypatch, caplog
):
    autolog.autolog(run_mode="none")
    autolog.exporter.retry_delay_s = 0.001

    def fail(*args: Any, **kwargs: Any) -> None:
        raise StoreError("disk on fire")

    patch_export_write(monkeypatch, export_writer, fail)
    with spanrun.start_run(), caplog.at_level(logging.WARNING, logger="spanrun"):
        assert workload(client) == baseline
    assert autolog.exporter.dropped_spans == 4
    assert "disk on fire" in caplog.text
    assert "gave up" in caplog.text


def test_store_failing_a_few_times_is_retried(
    autolog, client, store, export_writer, baseline, monkeypatch
):
    autolog.autolog(run_mode="none")
    autolog.exporter.retry_delay_s = 0.001
    real = export_writer.log_export_batch
    failures = iter([StoreError("busy"), StoreError("busy")])

    def flaky(runs: Any, spans: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real(runs, spans)

    patch_export_write(monkeypatch, export_writer, flaky)
    with spanrun.start_run() as run:
        assert workload(client) == baseline
    assert len(store.search_traces(run_id=run.info.run_id)) == 4
    assert autolog.exporter.dropped_spans == 0


def test_store_locked_by_another_process(autolog, client, store, baseline, tracking_uri):
    autolog.autolog(run_mode="none")
    path = tracking_uri.removeprefix("sqlite:///")
    with spanrun.start_run() as run:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database
        try:
            assert workload(client) == baseline
            assert store.search_traces(run_id=run.info.run_id) == []
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    # end_run() flushed once the lock was gone: nothing was lost.
    assert len(store.search_traces(run_id=run.info.run_id)) == 4
    assert len(predictions(store, run.info.run_id)) == 4


def test_store_read_only(autolog, client, store, export_writer, baseline, caplog):
    autolog.autolog(run_mode="session")
    autolog.exporter.retry_delay_s = 0.001

    # The exporter's write connection refuses writes from now on (root ignores chmod).
    export_writer.database.write_raw(lambda cursor: cursor.execute("PRAGMA query_only = 1"))
    try:
        with caplog.at_level(logging.WARNING, logger="spanrun"):
            assert workload(client) == baseline
            assert autolog.flush()
        assert "readonly" in caplog.text.replace("read-only", "readonly").replace(" ", "")
        assert autolog.exporter.dropped_spans == 4
    finally:
        export_writer.close()  # the next write opens a new (writable) connection
    # Writable again: new calls are stored, in the session run created now.
    assert client.embeddings.create(model="text-embedding-3-small", input=["c"]).data
    assert autolog.flush()
    session = autolog.exporter.session_run_id
    assert session is not None
    assert predictions(store, session)["model"].tolist() == ["text-embedding-3-small"]


def test_exit_with_the_store_locked_is_bounded(tracking_uri, store, openai_server):
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tracking_uri.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("_exit_locked.py")),
                openai_server.base_url,
            ],
            env={**os.environ, "SPANRUN_TRACKING_URI": tracking_uri},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Echo: bye"  # the user's program ran as without spanrun
    assert "did not take the last spans" in done.stderr
