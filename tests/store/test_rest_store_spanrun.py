"""The REST store against a real ``spanrun server`` process (SQLite store): spanrun's own
endpoints (spans, export batches, traces), autolog in one process logging through the server
in another, the CLI, and the token."""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import spanrun
from spanrun.core.entities import RunTag, SpanEvent, SpanRecord
from spanrun.core.vocabulary import CALL_METRICS
from spanrun.errors import NotFoundError, StoreError
from spanrun.store import get_store
from spanrun.store.rest import RestStore
from spanrun.testing.openai_server import OpenAIServer
from tests._rest_servers import free_port, spanrun_server

try:
    from spanrun.server import create_app  # noqa: F401
except ImportError:  # a checkout without the server
    pytest.skip("spanrun.server is not available", allow_module_level=True)


@pytest.fixture(scope="module")
def server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with spanrun_server(tmp_path_factory.mktemp("spanrun-server")) as server:
        yield server.uri


@pytest.fixture
def store(server_uri: str) -> RestStore:
    spanrun.set_tracking_uri(server_uri)
    found = get_store(server_uri)
    assert isinstance(found, RestStore)
    return found


def _new_run(store: RestStore) -> str:
    exp = store.create_experiment(f"e-{uuid.uuid4().hex[:10]}")
    return store.create_run(exp, "me", 1_000, [RunTag("k", "v")], None).info.run_id


def _span(trace: str, span: str, parent: str | None, run_id: str, start: int) -> SpanRecord:
    return SpanRecord(
        trace_id=trace,
        span_id=span,
        parent_span_id=parent,
        name=f"span {span[:4]}",
        kind="CLIENT",
        start_time_ns=start,
        end_time_ns=start + 500,
        status_code="OK",
        attributes={"gen_ai.request.model": "m", "n": 3, "x": 1.5, "flags": [True, False]},
        events=(SpanEvent("first token", start + 10, {"i": 1}),),
        resource={"service.name": "svc"},
        run_id=run_id,
        experiment_id=None,
    )


def test_the_store_knows_it_talks_to_a_spanrun_server(store: RestStore) -> None:
    assert store.server_kind() == "spanrun"


def test_spans_round_trip_through_spanruns_endpoints(store: RestStore) -> None:
    run_id = _new_run(store)
    trace = uuid.uuid4().hex
    root, child = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    spans = [_span(trace, root, None, run_id, 1_000), _span(trace, child, root, run_id, 1_100)]
    store.log_spans(spans)
    store.log_spans(spans)  # idempotent: a retried batch changes nothing

    got = store.get_trace(trace)
    assert got.info.trace_id == trace
    assert got.info.run_id == run_id
    assert got.info.span_count == 2
    assert got.info.name == f"span {root[:4]}"
    by_id = {s.span_id: s for s in got.spans}
    assert by_id[child].parent_span_id == root
    assert by_id[root].attributes == spans[0].attributes
    assert by_id[root].events == spans[0].events
    assert by_id[root].resource == {"service.name": "svc"}
    infos = store.search_traces(run_id=run_id)
    assert [t.trace_id for t in infos] == [trace]
    with pytest.raises(NotFoundError):
        store.get_trace(uuid.uuid4().hex)


def test_an_export_batch_is_one_request_with_calls_and_spans(store: RestStore) -> None:
    run_id = _new_run(store)
    missing = uuid.uuid4().hex
    calls = [
        (step, 2_000 + step, *[float(step + 1 + i) for i in range(len(CALL_METRICS))])
        for step in range(3)
    ]
    trace = uuid.uuid4().hex
    skipped = store.log_export_batch(
        {
            run_id: (
                [("plain", math.nan, 1_500, 0), ("plain", math.inf, 1_600, 1)],
                {"llm.model": "m"},
                {"t": "1"},
                calls,
            ),
            missing: ([("x", 1.0, 1, 0)], {}, {}),
        },
        [_span(trace, uuid.uuid4().hex[:16], None, run_id, 5_000)],
    )
    assert list(skipped) == [missing]
    run = store.get_run(run_id)
    assert run.data.params == {"llm.model": "m"}
    assert run.data.tags["t"] == "1"
    history = store.get_metric_history(run_id, "plain")
    assert math.isnan(history[0].value) and history[1].value == math.inf  # kept faithfully
    first = CALL_METRICS[0]
    assert [(m.step, m.value) for m in store.get_metric_history(run_id, first)] == [
        (0, 1.0),
        (1, 2.0),
        (2, 3.0),
    ]
    assert store.get_trace(trace).info.run_id == run_id
    # A param logged again by a later batch keeps its first value (no error), as locally.
    assert store.log_export_batch({run_id: ([], {"llm.model": "other"}, {})}) == {}
    assert store.get_run(run_id).data.params == {"llm.model": "m"}


CHILD = textwrap.dedent(
    """
    import os, openai, spanrun
    spanrun.autolog()
    llm = openai.OpenAI(base_url=os.environ["OPENAI_TEST_URL"], api_key="k", max_retries=0)
    for i in range(5):
        llm.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"question {i}"}],
            temperature=0.5,
        )
    """
)


def test_autolog_in_another_process_logs_through_the_server(
    store: RestStore, server_uri: str, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    experiment = f"autolog-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "child_program.py"
    script.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPANRUN_TRACKING")}
    src = str(Path(spanrun.__file__).resolve().parents[1])
    env |= {
        "SPANRUN_TRACKING_URI": server_uri,
        "SPANRUN_EXPERIMENT_NAME": experiment,
        "OPENAI_TEST_URL": openai_server.base_url,
        "PYTHONPATH": os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])]),
    }
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "not a spanrun server" not in done.stderr

    exp = store.get_experiment_by_name(experiment)
    assert exp is not None
    (run,) = store.search_runs([exp.experiment_id])
    assert run.info.run_name == "child_program"  # the session run, named after the program
    assert run.info.status == "FINISHED"
    assert run.data.params["llm.model"] == "gpt-4o-mini"
    assert run.data.params["llm.temperature"] == "0.5"
    calls = store.get_metric_history(run.info.run_id, "llm.calls")
    assert [(m.step, m.value) for m in calls] == [(i, i + 1) for i in range(5)]
    repo = spanrun.artifacts.get_artifact_repository(run.info.artifact_uri)
    rows = pd.read_csv(io.BytesIO(repo.read_bytes("llm_predictions.csv")), dtype=str)
    assert rows["inputs"].tolist() == [f"question {i}" for i in range(5)]
    traces = store.search_traces(run_id=run.info.run_id)
    assert {t.trace_id for t in traces} == set(rows["trace_id"])


def test_the_cli_through_the_server(store: RestStore, server_uri: str) -> None:
    from spanrun.cli import main

    run_id = _new_run(store)
    store.log_batch(run_id, tags=[RunTag("cli", "yes")])
    runner = CliRunner()
    shown = runner.invoke(main, ["--tracking-uri", server_uri, "runs", "describe", run_id])
    assert shown.exit_code == 0, shown.output
    assert run_id in shown.output and "cli" in shown.output
    missing = runner.invoke(main, ["--tracking-uri", server_uri, "runs", "describe", "nope"])
    assert missing.exit_code != 0
    assert "not found" in missing.output.lower()


def test_a_server_with_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with spanrun_server(tmp_path, token="t0ken") as server:
        uri = server.uri
        monkeypatch.setenv("SPANRUN_TRACKING_TOKEN", "wrong")
        with pytest.raises(StoreError, match="SPANRUN_TRACKING_TOKEN"):
            RestStore(uri).get_experiment("0")
        monkeypatch.setenv("SPANRUN_TRACKING_TOKEN", "t0ken")
        spanrun.set_tracking_uri(uri)
        with spanrun.start_run() as run:
            spanrun.log_metric("m", 1.0)
            spanrun.log_text("through the token", "a.txt")
        assert spanrun.get_run(run.info.run_id).data.metrics == {"m": 1.0}
        assert spanrun.artifacts.load_text(f"runs:/{run.info.run_id}/a.txt") == "through the token"


def test_a_killed_server_restarted_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Waits of 0.2, 0.4, 0.8 ... s (at most 30 s each): the server is back well within them.
    monkeypatch.setenv("SPANRUN_HTTP_REQUEST_BACKOFF_FACTOR", "0.2")
    monkeypatch.setenv("SPANRUN_HTTP_REQUEST_MAX_RETRIES", "10")
    port = free_port()
    with contextlib.ExitStack() as servers:
        first = servers.enter_context(spanrun_server(tmp_path, port=port))
        spanrun.set_tracking_uri(first.uri)
        run = spanrun.start_run()
        for i in range(20):
            spanrun.log_metric("m", float(i), step=i)
        first.kill()  # SIGKILL: the client now gets refused connections

        def restart() -> None:
            time.sleep(1.0)
            servers.enter_context(spanrun_server(tmp_path, port=port))

        restarter = threading.Thread(target=restart)
        restarter.start()
        started = time.monotonic()
        try:
            for i in range(20, 40):  # the first of these waits for the restarted server
                spanrun.log_metric("m", float(i), step=i)
            waited = time.monotonic() - started
            spanrun.end_run()
        finally:
            restarter.join()
        history = spanrun.SpanrunClient().get_metric_history(run.info.run_id, "m")
    assert [(m.step, m.value) for m in history] == [(i, float(i)) for i in range(40)]
    assert waited >= 1.0  # it did wait for the server, and did not fail
