from __future__ import annotations

from pathlib import Path

import pytest

from spanrun.artifacts import LocalArtifactRepository


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    return tmp_path / "exp" / "run" / "artifacts"


@pytest.fixture
def repo(artifact_root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(artifact_root.as_uri())
