"""Code ported from MLflow keeps its configuration (issue 14): MLFLOW_TRACKING_URI,
MLFLOW_EXPERIMENT_NAME/_ID, MLFLOW_RUN_ID and MLFLOW_ENABLE_ASYNC_LOGGING are honoured when the
SPANRUN_* variable is unset; spanrun's own variables win."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import spanrun
from spanrun.store import get_store
from spanrun.tracking import _async_logging, _uri

_PORTED = textwrap.dedent(
    """
    import spanrun as mlflow

    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("loss", 0.5)
    print(run.info.run_id)
    """
)


def test_a_program_configured_for_mlflow_logs_where_it_says(tmp_path: Path) -> None:
    db = tmp_path / "mlflow-configured.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANRUN_TRACKING", "MLFLOW_"))}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{db}", MLFLOW_EXPERIMENT_NAME="ported")
    result = subprocess.run(
        [sys.executable, "-c", _PORTED],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    assert not (tmp_path / "spanrun.db").exists()  # not the embedded default
    store = get_store(f"sqlite:///{db}")
    experiment = store.get_experiment_by_name("ported")
    assert experiment is not None
    run = store.get_run(run_id)
    assert run.info.experiment_id == experiment.experiment_id
    assert run.data.params == {"lr": "0.1"} and run.data.metrics == {"loss": 0.5}


def test_spanrun_variables_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _uri._state.reset()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert spanrun.get_tracking_uri().endswith("mlflow.db") and spanrun.is_tracking_uri_set()
    monkeypatch.setenv("SPANRUN_TRACKING_URI", f"sqlite:///{tmp_path / 'spanrun-env.db'}")
    assert spanrun.get_tracking_uri().endswith("spanrun-env.db")
    _uri._state.reset()


def test_experiment_from_mlflow_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-mlflow-env")
    with spanrun.start_run() as run:
        pass
    assert spanrun.get_experiment(run.info.experiment_id).name == "from-mlflow-env"


def test_one_family_of_experiment_variables_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    other = spanrun.create_experiment("by-id")
    # spanrun's name wins over MLflow's id: the families are not mixed.
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", other)
    monkeypatch.setenv("SPANRUN_EXPERIMENT_NAME", "by-spanrun-name")
    with spanrun.start_run() as run:
        pass
    assert spanrun.get_experiment(run.info.experiment_id).name == "by-spanrun-name"


def test_experiment_id_from_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    other = spanrun.create_experiment("by-mlflow-id")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", other)
    with spanrun.start_run() as run:
        pass
    assert run.info.experiment_id == other


def test_run_id_from_mlflow_resumes_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    with spanrun.start_run() as first:
        spanrun.log_param("a", 1)
    monkeypatch.setenv("MLFLOW_RUN_ID", first.info.run_id)
    with spanrun.start_run() as again:
        spanrun.log_param("b", 2)
    assert again.info.run_id == first.info.run_id
    assert spanrun.get_run(first.info.run_id).data.params == {"a": "1", "b": "2"}


def test_async_logging_from_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _async_logging.async_logging_enabled(None)
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    assert _async_logging.async_logging_enabled(None)
    monkeypatch.setenv("SPANRUN_ENABLE_ASYNC_LOGGING", "false")  # spanrun's own wins
    assert not _async_logging.async_logging_enabled(None)
