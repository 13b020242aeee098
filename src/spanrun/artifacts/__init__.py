"""Artifacts: files attached to runs, and MLflow's ``mlflow.artifacts`` functions.

``get_artifact_repository(run.info.artifact_uri)`` gives the repository of a run's files;
``download_artifacts``, ``list_artifacts``, ``load_text`` and ``load_dict`` work like
``mlflow.artifacts`` (``runs:/<run_id>/<path>`` URIs included). Every relative path is checked:
one that would leave the artifact root raises :class:`spanrun.errors.UnsafePathError`.
``normalize_untrusted_path`` is the stricter check for paths from the network (percent-decoded,
any ``..`` refused) and ``resolve_under`` the file-system check (symlinks included).
"""

from __future__ import annotations

from spanrun.artifacts._functions import (
    download_artifacts,
    list_artifacts,
    load_dict,
    load_text,
    parse_runs_uri,
)
from spanrun.artifacts._http import HttpArtifactRepository
from spanrun.artifacts._local import LocalArtifactRepository
from spanrun.artifacts._paths import (
    is_within,
    normalize_artifact_path,
    normalize_untrusted_path,
    resolve_under,
)
from spanrun.artifacts._registry import get_artifact_repository, register_artifact_repository
from spanrun.artifacts._repository import ArtifactFileHandle, ArtifactRepository

__all__ = [
    "ArtifactFileHandle",
    "ArtifactRepository",
    "HttpArtifactRepository",
    "LocalArtifactRepository",
    "download_artifacts",
    "get_artifact_repository",
    "is_within",
    "list_artifacts",
    "load_dict",
    "load_text",
    "normalize_artifact_path",
    "normalize_untrusted_path",
    "parse_runs_uri",
    "register_artifact_repository",
    "resolve_under",
]
