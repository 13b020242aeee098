from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from spanrun.cli import COMMANDS, main, register_command
from spanrun.core.entities import Metric, Param

from .conftest import Cli


def _run(cli: Cli, experiment_id: str = "0", name: str = "r", acc: float = 0.5) -> str:
    run_id = cli.client.create_run(experiment_id, run_name=name).info.run_id
    cli.client.log_batch(run_id, metrics=[Metric("acc", acc, 0)], params=[Param("model", name)])
    return run_id


def test_help_lists_every_group() -> None:
    output = CliRunner().invoke(main, ["--help"]).output
    for group in ("experiments", "runs", "artifacts"):
        assert group in output


def test_experiments_lifecycle(cli: Cli) -> None:
    created = json.loads(cli.ok("experiments", "create", "alpha", "--json"))
    exp_id = created["experiment_id"]
    assert created["name"] == "alpha" and created["lifecycle_stage"] == "active"
    assert cli.client.get_experiment(exp_id).name == "alpha"
    message = cli.ok("experiments", "create", "-n", "beta")
    beta = cli.client.get_experiment_by_name("beta")
    assert (
        beta is not None and message == f"Created experiment 'beta' with id {beta.experiment_id}\n"
    )

    table = cli.ok("experiments", "list")
    header, rule, *rows = table.splitlines()
    assert header.split() == ["ID", "Name", "Stage", "Created", "Artifact", "location"]
    assert set(rule) == {"-", " "}
    assert sorted(row.split()[1] for row in rows) == ["Default", "alpha", "beta"]

    cli.ok("experiments", "rename", exp_id, "gamma")
    assert cli.client.get_experiment(exp_id).name == "gamma"
    cli.ok("experiments", "rename", "--experiment-id", exp_id, "--new-name", "delta")
    assert cli.client.get_experiment(exp_id).name == "delta"

    assert f"Deleted experiment {exp_id}" in cli.ok("experiments", "delete", exp_id)
    listed = json.loads(cli.ok("experiments", "list", "--json"))
    assert exp_id not in [e["experiment_id"] for e in listed]
    deleted = json.loads(cli.ok("experiments", "list", "--view", "deleted", "--json"))
    assert [e["name"] for e in deleted] == ["delta"]
    restored = json.loads(cli.ok("experiments", "restore", "-x", exp_id, "--json"))
    assert restored[0]["lifecycle_stage"] == "active"


def test_experiment_errors_are_messages(cli: Cli) -> None:
    cli.ok("experiments", "create", "dup")
    for args, message in [
        (("experiments", "create", "dup"), "dup"),
        (("experiments", "delete", "424242"), "424242"),
        (("experiments", "rename", "424242", "x"), "424242"),
    ]:
        result = cli(*args)
        assert result.exit_code == 1
        assert result.output.startswith("Error: ") and message in result.output
        assert "Traceback" not in result.output
    assert cli("experiments", "create").exit_code == 2  # usage error: no name


def test_runs_list_filter_order_and_json(cli: Cli) -> None:
    exp_id = cli.client.create_experiment("e")
    low = _run(cli, exp_id, "low", 0.1)
    mid = _run(cli, exp_id, "mid", 0.5)
    high = _run(cli, exp_id, "high", 0.9)
    other = _run(cli, "0", "other", 0.7)

    rows = json.loads(
        cli.ok(
            "runs",
            "list",
            "-x",
            exp_id,
            "--filter",
            "metrics.acc > 0.3",
            "--order-by",
            "metrics.acc DESC",
            "--json",
        )
    )
    assert [r["info"]["run_id"] for r in rows] == [high, mid]
    assert rows[0]["data"] == {
        "metrics": {"acc": 0.9},
        "params": {"model": "high"},
        "tags": rows[0]["data"]["tags"],
    }
    assert rows[0]["data"]["tags"]["mlflow.runName"] == "high"

    by_name = json.loads(
        cli.ok("runs", "list", "--experiment-name", "e", "-o", "metrics.acc", "-m", "2", "--json")
    )
    assert [r["info"]["run_id"] for r in by_name] == [low, mid]

    everything = json.loads(cli.ok("runs", "list", "--json"))
    assert {r["info"]["run_id"] for r in everything} == {low, mid, high, other}

    table = cli.ok("runs", "list", "-x", exp_id, "-f", "params.model = 'mid'")
    header, _, *lines = table.splitlines()
    assert header.split()[:3] == ["Run", "ID", "Name"]
    assert len(lines) == 1 and lines[0].split()[:3] == [mid, "mid", exp_id]
    assert cli.ok("runs", "list", "-x", exp_id, "-f", "params.model = 'none'") == "No runs.\n"
    wide = cli.ok(
        "runs",
        "list",
        "-x",
        exp_id,
        "-o",
        "metrics.acc",
        "-c",
        "metrics.acc",
        "-c",
        "params.model",
        "-c",
        "tags.absent",
    )
    header, _, *lines = wide.splitlines()
    assert header.split()[-3:] == ["metrics.acc", "params.model", "tags.absent"]
    assert [line.split()[-3:] for line in lines] == [
        ["0.1", "low", "-"],
        ["0.5", "mid", "-"],
        ["0.9", "high", "-"],
    ]
    assert cli("runs", "list", "-c", "acc").exit_code == 2


def test_runs_list_errors(cli: Cli) -> None:
    result = cli("runs", "list", "--experiment-name", "nope")
    assert result.exit_code == 1 and "Experiment 'nope' does not exist" in result.output
    result = cli("runs", "list", "--filter", "metrics.acc >>> 1")
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert "Traceback" not in result.output


def test_runs_describe(cli: Cli) -> None:
    run_id = _run(cli, name="desc")
    cli.client.set_tag(run_id, "note", "two\nlines \x1b[31m")
    text = cli.ok("runs", "describe", run_id)
    for expected in ("Run", "Params", "Metrics", "Tags", run_id, "model", "desc", "acc", "0.5"):
        assert expected in text
    assert "two\\nlines \\x1b[31m" in text and "\x1b" not in text  # escaped, not executed
    data = json.loads(cli.ok("runs", "describe", "--run-id", run_id, "--json"))
    assert data["info"]["run_id"] == run_id
    assert data["data"]["params"] == {"model": "desc"}
    assert data["data"]["tags"]["note"] == "two\nlines \x1b[31m"
    result = cli("runs", "describe", "f" * 32)
    assert result.exit_code == 1 and "f" * 32 in result.output and "not found" in result.output


def test_runs_delete_and_restore(cli: Cli) -> None:
    a, b = _run(cli, name="a"), _run(cli, name="b")
    assert "Deleted run" in cli.ok("runs", "delete", a, b)
    assert json.loads(cli.ok("runs", "list", "--json")) == []
    deleted = json.loads(cli.ok("runs", "list", "--view", "deleted", "--json"))
    assert {r["info"]["run_id"] for r in deleted} == {a, b}
    restored = json.loads(cli.ok("runs", "restore", "-r", a, "--json"))
    assert restored[0]["info"]["lifecycle_stage"] == "active"
    result = cli("runs", "delete", "0" * 32)
    assert result.exit_code == 1 and "0" * 32 in result.output
    assert cli("runs", "delete").exit_code == 2


def test_artifacts_list_and_download(cli: Cli, tmp_path: Path) -> None:
    run_id = _run(cli)
    cli.client.log_text(run_id, "hello", "notes/a.txt")
    cli.client.log_text(run_id, "top", "top.txt")
    table = cli.ok("artifacts", "list", "--run-id", run_id)
    assert [line.split() for line in table.splitlines()[2:]] == [["notes/", "-"], ["top.txt", "3"]]
    listed = json.loads(cli.ok("artifacts", "list", "-u", f"runs:/{run_id}/notes", "--json"))
    assert listed == [{"path": "notes/a.txt", "is_dir": False, "file_size": 5}]
    path = cli.ok("artifacts", "download", "-r", run_id, "-a", "notes", "-d", str(tmp_path / "o"))
    assert Path(path.strip(), "a.txt").read_text() == "hello"
    data = json.loads(cli.ok("artifacts", "download", "-u", f"runs:/{run_id}/top.txt", "--json"))
    assert Path(data["path"]).read_text() == "top"


def test_artifacts_errors(cli: Cli, tmp_path: Path) -> None:
    run_id = _run(cli)
    cli.client.log_text(run_id, "x", "a.txt")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli("artifacts", "download", "-r", run_id, "-a", "a.txt", "-d", str(blocker / "sub"))
    assert result.exit_code == 1 and "a-file" in result.output
    assert "Traceback" not in result.output
    result = cli("artifacts", "download", "-r", run_id, "-a", "../../etc")
    assert result.exit_code == 1 and "escapes the artifact root" in result.output
    result = cli("artifacts", "download", "-u", f"runs:/{run_id}/missing.txt")
    assert result.exit_code == 1 and "missing.txt" in result.output
    assert cli("artifacts", "list").exit_code == 2
    assert cli("artifacts", "list", "-r", run_id, "-u", f"runs:/{run_id}").exit_code == 2


def test_register_command_adds_a_lazy_group() -> None:
    register_command("probe", "tests.cli.test_cli:_probe")
    try:
        result = CliRunner().invoke(main, ["probe"])
        assert result.exit_code == 0 and result.output == "probe ran\n"
        assert "probe" in CliRunner().invoke(main, ["--help"]).output
    finally:
        del COMMANDS["probe"]


@click.command()
def _probe() -> None:
    click.echo("probe ran")


@pytest.mark.parametrize("entry", ["module", "script"])
def test_real_subprocess(cli: Cli, tmp_path: Path, entry: str) -> None:
    run_id = _run(cli, name="sub")
    script = Path(sys.executable).with_name("spanrun")
    if entry == "script" and not script.exists():
        pytest.skip("console script not installed")
    command = [sys.executable, "-m", "spanrun.cli"] if entry == "module" else [str(script)]
    env = {**os.environ, "SPANRUN_TRACKING_URI": cli.uri}
    done = subprocess.run(
        [*command, "runs", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [r["info"]["run_id"] for r in json.loads(done.stdout)] == [run_id]
    if entry == "script":
        return  # the error path below is the same code; once is enough
    failed = subprocess.run(
        [*command, "runs", "describe", "no-such-run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert failed.returncode == 1
    assert "Error:" in failed.stderr and "no-such-run" in failed.stderr
    assert "Traceback" not in failed.stderr
