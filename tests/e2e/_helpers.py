"""Helpers for the end-to-end tests: one chat call, read-backs of what the store holds."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from spanrun.artifacts import get_artifact_repository
from spanrun.store.base import Store

if TYPE_CHECKING:  # the read-back helpers serve test environments without openai too
    import openai


def chat(client: openai.OpenAI, text: str, **kwargs: object) -> str:
    reply = client.chat.completions.create(
        model=kwargs.pop("model", "gpt-4o-mini"),  # type: ignore[arg-type]
        messages=[{"role": "user", "content": text}],
        **kwargs,  # type: ignore[arg-type]
    )
    return reply.choices[0].message.content or ""


def predictions(store: Store, run_id: str) -> pd.DataFrame:
    repo = get_artifact_repository(store.get_run(run_id).info.artifact_uri)
    return pd.read_csv(
        io.BytesIO(repo.read_bytes("llm_predictions.csv")), dtype=str, keep_default_na=False
    )


def steps(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in store.get_metric_history(run_id, key)]


def run_instrumented(
    tmp_path: Path, app: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``app`` (source) under ``opentelemetry-instrument`` with spanrun as the traces
    exporter (zero-code); it must succeed. Skips when opentelemetry-instrumentation is missing."""
    launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    if launcher is None:
        pytest.skip("opentelemetry-instrumentation is not installed")
    (tmp_path / "app.py").write_text(app)
    env = {
        **env,
        "OTEL_TRACES_EXPORTER": "spanrun",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    return run_program([launcher, sys.executable, "app.py"], tmp_path, env)


def run_program(
    args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a test program to its end (2 minutes at most); it must succeed."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done
