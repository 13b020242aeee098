"""examples/evaluate_qa.py (MLflow's evaluation quickstart with ``import spanrun as mlflow``)
runs against the local OpenAI-compatible server and leaves its metrics and table in the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import spanrun
from spanrun.testing.openai_server import OpenAIServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "evaluate_qa.py"


def test_the_seed_example_runs(openai_server: OpenAIServer, tmp_path: Path) -> None:
    source = EXAMPLE.read_text()
    assert "import spanrun as mlflow" in source and "task=openai.ChatCompletion" in source
    uri = f"sqlite:///{tmp_path / 'spanrun.db'}"
    env = {
        **os.environ,
        "SPANRUN_TRACKING_URI": uri,
        "OPENAI_BASE_URL": openai_server.base_url,
        "OPENAI_API_KEY": "sk-test",
        # The checkout under test, whatever the working directory.
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ari_grade_level/v1/mean" in out.stdout
    client = spanrun.SpanrunClient(uri)
    (run,) = client.search_runs(["0"])
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    assert {"ari_grade_level/v1/mean", "flesch_kincaid_grade_level/v1/mean", "exact_match/v1"} <= (
        set(metrics)
    )
    assert metrics["exact_match/v1"] == 0.0
    table = client.load_table("0", "eval_results_table.json", run_ids=[run.info.run_id])
    assert table["outputs"].tolist() == ["Echo: What is MLflow?", "Echo: What is Spark?"]
    assert table["token_count"].tolist() == [7, 6]
    assert {p.path for p in client.list_artifacts(run.info.run_id, "model")} == {
        "model/MLmodel",
        "model/model.yaml",
    }
