"""Autolog in one process logging through a ``spanrun server`` in another, with both transports:
``otlp`` (each batch one OTLP request, mapped into runs by the server) and ``rest`` (mapped in
the client, sent as REST export batches). Per-call metrics and prediction rows must arrive in
the right run: the run of ``start_run`` for calls inside it, else the process's session run
(one per client process, ended FINISHED at its exit)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from spanrun.artifacts import get_artifact_repository
from spanrun.core.process import PROCESS_TAG
from spanrun.store import Store, get_store
from spanrun.store.base import RUN_KEY_TAG
from spanrun.testing.openai_server import OpenAIServer
from tests.server.conftest import REPO, ServerProcess, start_server

CHILD = textwrap.dedent(
    """
    import json, os, sys
    import openai
    import spanrun
    from spanrun import _autolog

    spanrun.autolog()
    llm = openai.OpenAI(base_url=os.environ["OPENAI_TEST_URL"], api_key="k", max_retries=0)

    def ask(text):
        llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}], temperature=0.5
        )

    for i in range(3):
        ask(f"session {i}")
    with spanrun.start_run(run_name="inside") as run:
        for i in range(2):
            ask(f"inside {i}")
    _autolog.flush()
    sender = _autolog._state.sender
    print(json.dumps({"run_id": run.info.run_id, "otlp_requests": sender.otlp_requests,
                      "dropped": sender.dropped_spans}))
    """
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("autolog-server")
    process = start_server(tmp, f"sqlite:///{tmp / 'server.db'}")
    yield process
    process.stop()


def _run_child(
    script: Path, server: ServerProcess, openai_server: OpenAIServer, experiment: str, mode: str
) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANRUN_", "OTEL_"))}
    env |= {
        "SPANRUN_TRACKING_URI": server.base_url,
        "SPANRUN_EXPERIMENT_NAME": experiment,
        "SPANRUN_AUTOLOG_TRANSPORT": mode,
        "SPANRUN_RAISE_INTERNAL_ERRORS": "1",
        "LOGNAME": "alice",  # the client's user; the server's is another
        "USER": "alice",
        "OPENAI_TEST_URL": openai_server.base_url,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])]),
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _rows(run_artifact_uri: str) -> list[str]:
    data = get_artifact_repository(run_artifact_uri).read_bytes("llm_predictions.csv")
    frame = pd.read_csv(io.BytesIO(data), dtype=str)
    return list(frame["inputs"])


def _calls(store: Store, run_id: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in store.get_metric_history(run_id, "llm.calls")]


@pytest.mark.parametrize("mode", ["otlp", "rest"])
def test_autolog_through_a_server_puts_calls_in_the_right_runs(
    server: ServerProcess, openai_server: OpenAIServer, tmp_path: Path, mode: str
) -> None:
    script = tmp_path / "through_server.py"
    script.write_text(CHILD)
    experiment = f"through-{mode}"
    first = _run_child(script, server, openai_server, experiment, mode)
    second = _run_child(script, server, openai_server, experiment, mode)
    assert first["dropped"] == second["dropped"] == 0
    if mode == "otlp":
        assert first["otlp_requests"] and first["otlp_requests"] <= 2  # one per batch
    else:
        assert first["otlp_requests"] == 0

    store = get_store(server.backend_store_uri, str(server.artifacts_destination))
    exp = store.get_experiment_by_name(experiment)
    assert exp is not None
    runs = store.search_runs([exp.experiment_id], max_results=10)
    inside = {r.info.run_id: r for r in runs if r.info.run_name == "inside"}
    sessions = [r for r in runs if r.info.run_name == "through_server"]
    assert set(inside) == {first["run_id"], second["run_id"]}
    # One session run per client process, ended at its exit.
    assert len(sessions) == 2 and len(runs) == 4
    for run in [*inside.values(), *sessions]:
        assert run.info.status == "FINISHED"
        assert run.info.user_id == "alice"
        assert run.data.params["llm.model"] == "gpt-4o-mini"
        assert run.data.params["llm.temperature"] == "0.5"
    for run_id, run in inside.items():
        assert _calls(store, run_id) == [(0, 1.0), (1, 2.0)]
        assert _rows(run.info.artifact_uri) == ["inside 0", "inside 1"]
        assert len(store.get_metric_history(run_id, "llm.input_tokens")) == 2
    for run in sessions:
        assert _calls(store, run.info.run_id) == [(0, 1.0), (1, 2.0), (2, 3.0)]
        assert _rows(run.info.artifact_uri) == ["session 0", "session 1", "session 2"]
        traces = store.search_traces(run_id=run.info.run_id)
        assert len(traces) == 3
        # Made by the server for this client process (keyed on it), or by the client itself.
        assert (RUN_KEY_TAG in run.data.tags) == (mode == "otlp")
    assert sessions[0].data.tags[PROCESS_TAG] != sessions[1].data.tags[PROCESS_TAG]
