"""Choosing an artifact repository from an artifact URI (by scheme)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlparse

from spanrun.artifacts._local import LocalArtifactRepository
from spanrun.artifacts._repository import ArtifactRepository
from spanrun.errors import InvalidInputError

__all__ = ["get_artifact_repository", "register_artifact_repository"]

RepositoryFactory = Callable[[str], ArtifactRepository]


def _http_repository(artifact_uri: str) -> ArtifactRepository:
    from spanrun.artifacts._http import HttpArtifactRepository  # urllib only when needed

    return HttpArtifactRepository(artifact_uri)


_factories: dict[str, RepositoryFactory] = {
    "": LocalArtifactRepository,
    "file": LocalArtifactRepository,
    "http": _http_repository,
    "https": _http_repository,
    "mlflow-artifacts": _http_repository,
}
_lock = threading.Lock()


def register_artifact_repository(scheme: str, factory: RepositoryFactory) -> None:
    """Serve artifact URIs of ``scheme`` (e.g. ``"mlflow-artifacts"``) with ``factory(uri)``."""
    with _lock:
        _factories[scheme.lower()] = factory


def get_artifact_repository(artifact_uri: str) -> ArtifactRepository:
    """The repository for ``artifact_uri``: ``file://`` URIs and plain paths are local;
    ``mlflow-artifacts:`` and ``http(s)://.../api/2.0/mlflow-artifacts/artifacts/...`` go to
    an artifacts server."""
    if not isinstance(artifact_uri, str) or not artifact_uri:
        raise InvalidInputError(f"An artifact URI is required, got {artifact_uri!r}")
    scheme = urlparse(artifact_uri).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    factory = _factories.get(scheme)
    if factory is None:
        supported = ", ".join(sorted(s for s in _factories if s)) or "file"
        raise InvalidInputError(
            f"No artifact repository for {artifact_uri!r} (supported schemes: {supported}, "
            "or a local path)"
        )
    return factory(artifact_uri)
