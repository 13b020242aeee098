from __future__ import annotations

from pathlib import Path

import pytest

import spanrun
from spanrun import artifacts
from spanrun.errors import InvalidInputError, NotFoundError, UnsafePathError
from spanrun.tracking.client import SpanrunClient


@pytest.fixture
def run_id(client: SpanrunClient, tmp_path: Path) -> str:
    run_id = client.create_run("0").info.run_id
    client.log_text(run_id, "hello ü", "notes/readme.txt")
    client.log_dict(run_id, {"a": 1, "b": [1, 2]}, "config.json")
    client.log_dict(run_id, {"name": "x", "nested": {"k": True}}, "config.yaml")
    return run_id


def test_list_artifacts_by_run_id_and_runs_uri(run_id: str) -> None:
    top = artifacts.list_artifacts(run_id=run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("config.json", False),
        ("config.yaml", False),
        ("notes", True),
    ]
    inner = artifacts.list_artifacts(artifact_uri=f"runs:/{run_id}/notes")
    assert [f.path for f in inner] == ["notes/readme.txt"]
    assert artifacts.list_artifacts(run_id=run_id, artifact_path="notes") == inner


def test_list_artifacts_by_file_uri(client: SpanrunClient, run_id: str) -> None:
    uri = client.get_artifact_uri(run_id)
    assert [f.path for f in artifacts.list_artifacts(artifact_uri=uri + "/notes")] == ["readme.txt"]


def test_download_artifacts(client: SpanrunClient, run_id: str, tmp_path: Path) -> None:
    dst = tmp_path / "new" / "dir"  # created when missing
    path = artifacts.download_artifacts(run_id=run_id, artifact_path="notes", dst_path=str(dst))
    assert Path(path, "readme.txt").read_text(encoding="utf-8") == "hello ü"
    by_uri = artifacts.download_artifacts(f"runs:/{run_id}/notes/readme.txt")
    assert Path(by_uri).read_text(encoding="utf-8") == "hello ü"
    whole = artifacts.download_artifacts(f"runs:/{run_id}", dst_path=str(tmp_path / "whole"))
    assert sorted(p.name for p in Path(whole).iterdir()) == ["config.json", "config.yaml", "notes"]
    file_uri = client.get_artifact_uri(run_id) + "/config.json"
    local = artifacts.download_artifacts(artifact_uri=file_uri, dst_path=str(tmp_path / "f"))
    assert Path(local) == tmp_path / "f" / "config.json"


def test_download_with_explicit_tracking_uri(
    client: SpanrunClient, run_id: str, tmp_path: Path
) -> None:
    spanrun.set_tracking_uri(str(tmp_path / "elsewhere"))  # the current URI has no such run
    with pytest.raises(NotFoundError):
        artifacts.download_artifacts(run_id=run_id, artifact_path="config.json")
    path = artifacts.download_artifacts(
        run_id=run_id, artifact_path="config.json", tracking_uri=client.tracking_uri
    )
    assert Path(path).name == "config.json"


def test_load_text_and_dict(client: SpanrunClient, run_id: str) -> None:
    assert artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "hello ü"
    assert artifacts.load_dict(f"runs:/{run_id}/config.json") == {"a": 1, "b": [1, 2]}
    assert artifacts.load_dict(f"runs:/{run_id}/config.yaml") == {
        "name": "x",
        "nested": {"k": True},
    }
    root = client.get_artifact_uri(run_id)
    assert artifacts.load_dict(root + "/config.json") == {"a": 1, "b": [1, 2]}
    local_path = root.removeprefix("file://") + "/notes/readme.txt"
    assert artifacts.load_text(local_path) == "hello ü"


def test_errors(client: SpanrunClient, run_id: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="must not be specified"):
        artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/x", run_id=run_id)
    with pytest.raises(InvalidInputError, match="must not be specified"):
        artifacts.list_artifacts(artifact_uri=f"runs:/{run_id}", artifact_path="x")
    with pytest.raises(InvalidInputError, match="Either artifact_uri or run_id"):
        artifacts.download_artifacts()
    with pytest.raises(NotFoundError):
        artifacts.load_text(f"runs:/{'f' * 32}/x.txt")
    with pytest.raises(NotFoundError):
        artifacts.load_text(f"runs:/{run_id}/missing.txt")
    with pytest.raises(UnsafePathError):
        artifacts.load_text(f"runs:/{run_id}/../../../../etc/passwd")
    with pytest.raises(UnsafePathError):
        artifacts.download_artifacts(run_id=run_id, artifact_path="../..")
    with pytest.raises(UnsafePathError):
        artifacts.list_artifacts(run_id=run_id, artifact_path="/etc")
    client.log_text(run_id, "[1, 2]", "list.json")
    with pytest.raises(InvalidInputError, match="not a dict"):
        artifacts.load_dict(f"runs:/{run_id}/list.json")
    with pytest.raises(InvalidInputError, match="JSON"):
        artifacts.load_dict(f"runs:/{run_id}/notes/readme.txt")
    with pytest.raises(InvalidInputError, match="runs URI"):
        artifacts.load_text("runs://host/x")


def test_reachable_as_spanrun_artifacts() -> None:
    assert spanrun.artifacts.download_artifacts is artifacts.download_artifacts
    assert set(artifacts.__all__) >= {
        "download_artifacts",
        "list_artifacts",
        "load_text",
        "load_dict",
        "get_artifact_repository",
    }
