"""The stock MLflow 3.x client (its own venv, .venv-mlflow) against ``spanrun server``, end to
end: experiments, runs, params, metrics, log_batch, tags, artifacts (upload, list, download),
search with a filter, metric history, end_run; then spanrun's own store is checked for all of
it, and the MLflow client reads a run that spanrun's autolog logged (real openai client against
spanrun's local OpenAI-compatible server) into the same store."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import openai
import spanrun
from spanrun.artifacts import get_artifact_repository
from spanrun.store import get_store
from spanrun.testing.openai_server import OpenAIServer
from tests.server.conftest import REPO, ServerProcess, start_server

SCRIPT = Path(__file__).with_name("_mlflow_client_script.py")


@pytest.fixture(scope="module")
def mlflow_python() -> str:
    """The python of the stock MLflow client (scripts/mlflow_env.sh creates the venv once)."""
    try:
        made = subprocess.run(
            ["bash", str(REPO / "scripts" / "mlflow_env.sh")],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=REPO,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"scripts/mlflow_env.sh could not run: {exc}")
    if made.returncode != 0:
        pytest.skip(f"scripts/mlflow_env.sh failed (no MLflow client): {made.stderr[-2000:]}")
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture(params=[None, "mlflow-token"], ids=["no-token", "token"])
def shared_store_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose artifacts are where a local process would put them for the same
    SQLite file (``spanrun-artifacts`` beside it), so both see the same runs and files;
    with and without a token (the MLflow client sends MLFLOW_TRACKING_TOKEN as a bearer)."""
    running = start_server(
        tmp_path,
        f"sqlite:///{tmp_path / 'shared.db'}",
        artifacts=tmp_path / "spanrun-artifacts",
        token=request.param,
    )
    yield running
    running.stop()


def _autolog_a_run(uri: str, openai_server: OpenAIServer) -> str:
    spanrun.set_tracking_uri(uri)
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="test-key", max_retries=0)
    spanrun.autolog()
    try:
        with spanrun.start_run(run_name="autologged") as run:
            for question in ("first question", "second question"):
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": question}],
                    temperature=0.2,
                )
    finally:
        spanrun.autolog(disable=True)
    return run.info.run_id


def test_stock_mlflow_client_end_to_end(
    mlflow_python: str,
    shared_store_server: ServerProcess,
    openai_server: OpenAIServer,
    tmp_path: Path,
) -> None:
    server = shared_store_server
    autolog_run_id = _autolog_a_run(server.backend_store_uri, openai_server)
    work = tmp_path / "mlflow-work"
    work.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SPANRUN_", "PYTHON"))
    }
    env.update(
        MLFLOW_TRACKING_URI=server.base_url,
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    )
    if server.token:
        env["MLFLOW_TRACKING_TOKEN"] = server.token
    done = subprocess.run(
        [mlflow_python, str(SCRIPT), autolog_run_id, str(work)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=work,
    )
    assert done.returncode == 0, (
        f"{done.stderr[-5000:]}\n--- server log ---\n{server.log()[-3000:]}"
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])

    run_id = out["run_id"]
    experiment_id = out["experiment_id"]
    assert out["active_artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert out["status"] == "FINISHED" and out["end_time_set"]
    assert out["run_name"] == "from-mlflow"
    assert out["params"] == {
        "lr": "0.01",
        "model": "gpt-4o",
        "layers": "3",
        "batch_p": "x",
    }
    assert out["metrics"] == {"loss": 0.25, "acc": 0.9, "f1": 0.8, "batch_m": 4.0}
    assert out["tags"] == {"team": "nlp", "batch_t": "y"}
    assert out["history"] == [[0, 0.5], [1, 0.25]]
    assert out["search"] == [run_id]
    assert "metrics.loss" in out["frame_columns"] and "params.model" in out["frame_columns"]
    assert "mlflow-client-e2e" in out["experiments"] and "Default" in out["experiments"]
    assert out["listed"] == [
        ["bundle", True, None],
        ["notes.txt", False, 15],
        ["texts", True, None],
    ]
    assert out["listed_bundle"] == [["bundle/a.json", False, 8], ["bundle/sub", True, None]]
    assert out["downloaded"] == {
        "notes.txt": "hello artifacts",
        "bundle/a.json": '{"a": 1}',
        "bundle/sub/b.txt": "B",
        "texts/t.txt": "inline text",
    }
    assert out["one_file"] == "B"

    # What spanrun's own store holds.
    store = get_store(server.backend_store_uri, str(server.artifacts_destination))
    stored = store.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.experiment_id == experiment_id
    assert store.get_experiment(experiment_id).name == "mlflow-client-e2e"
    assert stored.data.params == out["params"]
    assert stored.data.metrics == out["metrics"]
    assert stored.data.tags["team"] == "nlp" and stored.data.tags["batch_t"] == "y"
    assert [
        (m.step, m.value, m.timestamp) for m in store.get_metric_history(run_id, "batch_m")
    ] == [(i, float(i), 1_000 + i) for i in range(5)]
    files = get_artifact_repository(stored.info.artifact_uri)
    assert files.read_bytes("bundle/sub/b.txt") == b"B"
    assert files.read_bytes("texts/t.txt") == b"inline text"

    # The autologged run, as the MLflow client sees it.
    auto = out["autolog"]
    assert auto["status"] == "FINISHED"
    assert auto["params"]["llm.model"] == "gpt-4o-mini"
    assert auto["params"]["llm.temperature"] == "0.2"
    assert auto["metrics"]["llm.calls"] == 2
    assert [step for step, _ in auto["input_tokens"]] == [0, 1]
    assert all(value > 0 for _, value in auto["input_tokens"])
    assert "llm_predictions.csv" in auto["artifacts"]
    assert auto["predictions"].startswith("inputs,outputs,prompts")
    assert "first question" in auto["predictions"] and "second question" in auto["predictions"]
