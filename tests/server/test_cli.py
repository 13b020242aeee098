"""``spanrun ui`` and ``spanrun server`` from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from spanrun.store import get_store
from tests.server.conftest import server_command, server_env, start_server


def test_ui_serves_the_embedded_store_of_the_working_directory(tmp_path: Path) -> None:
    ui = start_server(tmp_path, "", command=("ui",))
    try:
        assert ui.http.get("/api/2.0/spanrun/server-info").json()["server"] == "spanrun"
        run = ui.ok("POST", "runs/create", json={"experiment_id": "0"})["run"]
        run_id = run["info"]["run_id"]  # type: ignore[index]
        assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/0/{run_id}/artifacts"  # type: ignore[index]
        put = ui.http.put(
            f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/a.txt", content=b"A"
        )
        assert put.status_code == 200
    finally:
        ui.stop()
    assert (
        tmp_path / "spanrun-artifacts" / "0" / run_id / "artifacts" / "a.txt"
    ).read_bytes() == b"A"
    store = get_store(f"sqlite:///{tmp_path / 'spanrun.db'}")
    assert store.get_run(run_id).info.experiment_id == "0"


def test_ui_uses_the_global_tracking_uri(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "mine.db"
    ui = start_server(tmp_path, "", command=("--tracking-uri", f"sqlite:///{db}", "ui"))
    try:
        ui.ok("POST", "experiments/create", json={"name": "in-mine"})
    finally:
        ui.stop()
    assert get_store(f"sqlite:///{db}").get_experiment_by_name("in-mine") is not None
    assert not (tmp_path / "spanrun.db").exists()


def test_server_help_lists_the_options(tmp_path: Path) -> None:
    shown = subprocess.run(
        server_command("server", "--help"),
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert shown.returncode == 0
    for option in (
        "--backend-store-uri",
        "--artifacts-destination",
        "--host",
        "--port",
        "--workers",
        "--auth-token",
        "--insecure-no-auth",
        "--allowed-hosts",
    ):
        assert option in shown.stdout


def test_empty_token_is_refused(tmp_path: Path) -> None:
    refused = subprocess.run(
        server_command("server", "--auth-token", " ", "--port", "1"),
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert refused.returncode != 0 and "must not be empty" in refused.stderr
