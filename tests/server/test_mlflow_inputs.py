"""The stock MLflow 3.x client (its own venv, .venv-mlflow) logs dataset inputs to a
``spanrun server`` and reads them back, and reads those spanrun logged; digests agree, so the
same data logged by both is one dataset."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import spanrun
from spanrun.store import get_store
from tests.server._dataset_frames import describe
from tests.server.conftest import REPO, ServerProcess, start_server

SCRIPT = Path(__file__).with_name("_mlflow_inputs_script.py")


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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(tmp_path, f"sqlite:///{tmp_path / 'inputs.db'}")
    yield running
    running.stop()


def test_stock_mlflow_client_logs_and_reads_dataset_inputs(
    mlflow_python: str, server: ServerProcess, tmp_path: Path
) -> None:
    # spanrun's client, through the REST store, logs the same data MLflow will.
    df = pd.DataFrame({"question": ["2+2?", "capital of France?"], "label": [4, 0]})
    spanrun.set_tracking_uri(server.base_url)
    spanrun.set_experiment("inputs-e2e")
    ours = spanrun.data.from_pandas(df, name="eval", source="data/eval.csv", targets="label")
    with spanrun.start_run() as spanrun_run:
        spanrun.log_input(ours, context="spanrun")

    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SPANRUN_", "PYTHON"))
    }
    env.update(
        MLFLOW_TRACKING_URI=server.base_url,
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    )
    done = subprocess.run(
        [mlflow_python, str(SCRIPT), spanrun_run.info.run_id],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, f"{done.stderr[-5000:]}\n--- server ---\n{server.log()[-3000:]}"
    out = json.loads(done.stdout.strip().splitlines()[-1])

    logged = out["logged"]
    # spanrun.data computes what mlflow.data does: the same digest, schema and profile.
    assert ours.to_dict() == logged
    eval_input = {"dataset": logged, "tags": {"k": "v", "mlflow.data.context": "eval"}}
    assert out["got"][0] == eval_input
    assert [i["dataset"]["name"] for i in out["got"]] == ["eval", "train"]
    assert out["got"][1]["dataset"]["source_type"] == "s3"
    assert out["got"][1]["tags"] == {"mlflow.data.context": "training"}
    assert out["searched"] == out["got"]
    assert out["spanrun_run"] == [{"dataset": logged, "tags": {"mlflow.data.context": "spanrun"}}]
    assert out["by_dataset"] == [spanrun_run.info.run_id]  # MLflow's datasets.* filter

    # One dataset row for "eval" (spanrun's and MLflow's), one for "train".
    with sqlite3.connect(tmp_path / "inputs.db") as conn:
        rows = conn.execute("SELECT name, digest FROM datasets ORDER BY name").fetchall()
    assert rows == [("eval", logged["digest"]), ("train", out["got"][1]["dataset"]["digest"])]
    stored = get_store(server.backend_store_uri, str(tmp_path / "unused")).get_run(out["run_id"])
    assert [d.dataset.name for d in stored.inputs.dataset_inputs] == ["eval", "train"]


def test_spanrun_log_input_takes_mlflow_data_datasets(mlflow_python: str, tmp_path: Path) -> None:
    """``spanrun.log_input`` records one of MLflow's own ``mlflow.data`` datasets (run in the
    MLflow venv with spanrun's sources on the path: that venv has spanrun's dependencies)."""
    code = """
import json, sys, warnings
warnings.simplefilter("ignore")
import mlflow, pandas as pd, spanrun
spanrun.set_tracking_uri(sys.argv[1])
df = pd.DataFrame({"question": ["2+2?"], "label": [4]})
theirs = mlflow.data.from_pandas(df, name="eval", source="s3://bucket/eval.csv")
with spanrun.start_run() as run:
    spanrun.log_input(theirs, context="eval")
(item,) = spanrun.get_run(run.info.run_id).inputs.dataset_inputs
tags = {t.key: t.value for t in item.tags}
print(json.dumps([theirs.to_dict(), item.dataset.to_dictionary(), tags]))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SPANRUN_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    done = subprocess.run(
        [mlflow_python, "-c", code, f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs, stored, tags = json.loads(done.stdout.strip().splitlines()[-1])
    assert stored == theirs
    assert stored["source_type"] == "s3"
    assert tags == {"mlflow.data.context": "eval"}


def test_dataset_descriptions_equal_mlflow_data(mlflow_python: str, tmp_path: Path) -> None:
    """Digest, schema, profile and source of several frames and arrays (missing values,
    nullable and small ints, datetimes, unicode names, >10,000 rows, dicts of arrays) are
    exactly what mlflow.data computes."""
    script = str(Path(__file__).with_name("_dataset_frames.py"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
    theirs = subprocess.run(
        [mlflow_python, "-W", "ignore", script, "mlflow"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    expected = json.loads(theirs.stdout.strip().splitlines()[-1])
    assert describe(spanrun.data) == expected
    assert len(expected) == 10
