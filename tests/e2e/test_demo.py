"""The README's main command runs ``examples/demo.py``: it must work offline and show the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

import spanrun

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_demo_autologs_into_the_embedded_store_and_shows_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANRUN_", "OPENAI_"))}
    done = subprocess.run(
        [sys.executable, str(DEMO)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = done.stdout
    assert "local OpenAI-compatible server" in out
    assert "$ spanrun runs describe" in out and "llm.calls" in out
    assert "llm_predictions.csv" in out
    assert "$ spanrun traces list" in out and "chat gpt-4o-mini" in out

    # The embedded default: ./spanrun.db and ./spanrun-artifacts in the working directory.
    assert (tmp_path / "spanrun.db").exists() and (tmp_path / "spanrun-artifacts").is_dir()
    client = spanrun.SpanrunClient(f"sqlite:///{tmp_path / 'spanrun.db'}")
    experiment = client.get_experiment_by_name("demo")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["prompt_version"] == "v2"
    assert run.data.metrics["llm.calls"] == 4  # two chats, one stream, one embeddings call
    csv = client.download_artifacts(run.info.run_id, "llm_predictions.csv", str(tmp_path))
    rows = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert len(rows) == 4
    assert rows["inputs"].iloc[0] == "What is OpenTelemetry?"
    assert len(client.search_traces(run_id=run.info.run_id)) == 4
