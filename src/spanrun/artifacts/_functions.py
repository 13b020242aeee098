"""MLflow's ``mlflow.artifacts`` functions: download, list and load artifacts by URI or run id.

``artifact_uri`` may be ``runs:/<run_id>/<path>`` (resolved through the tracking store), a
``file://`` URI or a plain local path.
"""

from __future__ import annotations

import json
import os
import posixpath
from typing import Any

from spanrun.artifacts._paths import normalize_artifact_path
from spanrun.artifacts._registry import get_artifact_repository
from spanrun.artifacts._repository import ArtifactRepository
from spanrun.core.current import lookups
from spanrun.core.entities import FileInfo
from spanrun.errors import InvalidInputError

__all__ = ["download_artifacts", "list_artifacts", "load_dict", "load_text", "parse_runs_uri"]

_RUNS_PREFIX = "runs:/"


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """Split ``runs:/<run_id>/<path>`` into ``(run_id, safe relative path)``."""
    if not uri.startswith(_RUNS_PREFIX) or uri.startswith(_RUNS_PREFIX + "/"):
        raise InvalidInputError(f"Not a runs URI (expected 'runs:/<run_id>/<path>'): {uri!r}")
    run_id, _, path = uri[len(_RUNS_PREFIX) :].partition("/")
    if not run_id:
        raise InvalidInputError(f"The runs URI names no run id: {uri!r}")
    return run_id, normalize_artifact_path(path)


def _run_repository(run_id: str, tracking_uri: str | None) -> ArtifactRepository:
    # Resolved by the tracking layer (registered in spanrun.core.current), which sits above.
    return get_artifact_repository(lookups.run_artifact_uri(run_id, tracking_uri))


def _split_uri(artifact_uri: str, tracking_uri: str | None) -> tuple[ArtifactRepository, str]:
    """The repository and the relative path an artifact URI points at."""
    if not isinstance(artifact_uri, str) or not artifact_uri:
        raise InvalidInputError(f"An artifact URI is required, got {artifact_uri!r}")
    if artifact_uri.startswith("runs:"):
        run_id, path = parse_runs_uri(artifact_uri)
        return _run_repository(run_id, tracking_uri), path
    # Like MLflow: the parent is the repository root, the last component the artifact.
    parent, name = posixpath.split(artifact_uri.rstrip("/") or "/")
    if not name:  # the file-system root itself
        return get_artifact_repository(artifact_uri), ""
    parent = {"": ".", "file:": "file:///"}.get(parent, parent)
    return get_artifact_repository(parent), name


def _check_arguments(
    artifact_uri: str | None, run_id: str | None, artifact_path: str | None
) -> None:
    if artifact_uri is not None and (run_id is not None or artifact_path is not None):
        raise InvalidInputError(
            "If the artifact_uri argument is specified, the run_id and artifact_path arguments "
            "must not be specified."
        )
    if artifact_uri is None and run_id is None:
        raise InvalidInputError("Either artifact_uri or run_id must be specified.")


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Download a file or directory to ``dst_path`` (created when missing; a temp dir when
    None) and return its local path."""
    _check_arguments(artifact_uri, run_id, artifact_path)
    if dst_path is not None:
        try:
            os.makedirs(dst_path, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(f"Cannot create the destination {dst_path!r}: {exc}") from None
    if artifact_uri is not None:
        repo, path = _split_uri(artifact_uri, tracking_uri)
    else:
        repo, path = _run_repository(str(run_id), tracking_uri), artifact_path or ""
    return repo.download_artifacts(path, dst_path=dst_path)


def list_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    """The files and directories directly under an artifact directory."""
    _check_arguments(artifact_uri, run_id, artifact_path)
    if artifact_uri is None:
        return _run_repository(str(run_id), tracking_uri).list_artifacts(artifact_path)
    if artifact_uri.startswith("runs:"):
        parsed_run_id, path = parse_runs_uri(artifact_uri)
        return _run_repository(parsed_run_id, tracking_uri).list_artifacts(path or None)
    return get_artifact_repository(artifact_uri).list_artifacts(None)


def load_text(artifact_uri: str) -> str:
    """The content of a text artifact (UTF-8)."""
    repo, path = _split_uri(artifact_uri, None)
    data = repo.read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"Artifact {artifact_uri!r} is not UTF-8 text: {exc}") from None


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """A dict logged with ``log_dict``: YAML for ``.yaml``/``.yml`` files, JSON otherwise."""
    text = load_text(artifact_uri)
    if artifact_uri.lower().endswith((".yaml", ".yml")):
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"Unable to read YAML from {artifact_uri!r}: {exc}") from None
    else:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"Unable to read JSON from {artifact_uri!r}: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"Artifact {artifact_uri!r} holds a {type(value).__name__}, not a dict"
        )
    return value
