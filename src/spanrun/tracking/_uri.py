"""Where tracking data goes: the tracking URI and the store behind it.

Resolution order (design.md §2): :func:`set_tracking_uri`, else ``SPANRUN_TRACKING_URI`` (or
MLflow's ``MLFLOW_TRACKING_URI`` when that is unset), else the embedded default
``sqlite:///<cwd>/spanrun.db`` with artifacts in ``<cwd>/spanrun-artifacts``.
The default is resolved against the working directory at the moment it is first needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spanrun.core.settings import env_setting

if TYPE_CHECKING:
    from spanrun.store.base import RunWriter, Store

__all__ = [
    "TRACKING_URI_ENV",
    "default_artifact_root",
    "default_tracking_uri",
    "get_export_store_for_uri",
    "get_store_for_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_tracking_uri",
]

TRACKING_URI_ENV = "SPANRUN_TRACKING_URI"
DEFAULT_DB_NAME = "spanrun.db"
DEFAULT_ARTIFACTS_DIR = "spanrun-artifacts"


def default_tracking_uri() -> str:
    """The embedded store in the current working directory."""
    return f"sqlite:///{Path.cwd() / DEFAULT_DB_NAME}"


def default_artifact_root() -> str:
    return str(Path.cwd() / DEFAULT_ARTIFACTS_DIR)


def _normalize(uri: str | os.PathLike[str]) -> str:
    """Accept a plain directory or file path the way MLflow does, as a local store."""
    text = os.fspath(uri).strip()
    if not text:
        raise _invalid("The tracking URI must not be empty.")
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        return f"sqlite:///{path}"
    # A directory: keep the database and artifacts inside it.
    return f"sqlite:///{path / DEFAULT_DB_NAME}"


def _invalid(message: str) -> Exception:
    from spanrun.errors import InvalidInputError

    return InvalidInputError(message)


class _TrackingUriState:
    """The process-wide tracking URI (its stores are cached by ``spanrun.store``)."""

    def __init__(self) -> None:
        self._uri: str | None = None
        self._default: tuple[str, str] | None = None

    def set_tracking_uri(self, uri: str | os.PathLike[str]) -> None:
        """Send tracking data to ``uri`` (``sqlite:///...``, ``postgresql://...``, ``http://...``
        or a local path) for the rest of the process."""
        self._uri = _normalize(uri)

    def is_tracking_uri_set(self) -> bool:
        return self._uri is not None or env_setting("TRACKING_URI") is not None

    def get_tracking_uri(self) -> str:
        """The URI in use: the one set, else ``SPANRUN_TRACKING_URI`` (else
        ``MLFLOW_TRACKING_URI``), else the embedded default."""
        if self._uri is not None:
            return self._uri
        env = env_setting("TRACKING_URI")
        if env is not None:
            return _normalize(env[1])
        default = self._default
        if default is None:
            # Resolved once, so a later chdir() doesn't split a program's data in two.
            default = self._default = (default_tracking_uri(), default_artifact_root())
        return default[0]

    def get_store(self, uri: str | None = None) -> Store:
        """The store for ``uri`` or the current tracking URI (cached by ``spanrun.store``)."""
        return _get_store(*self._locate(uri))

    def get_export_store(self, uri: str | None = None) -> RunWriter:
        """The store the run exporter writes to, for ``uri`` or the current tracking URI: as
        :meth:`get_store`, but on a SQLite file one that does not import SQLAlchemy
        (``spanrun.store.get_export_store``)."""
        return _get_export_store(*self._locate(uri))

    def _locate(self, uri: str | None) -> tuple[str, str | None]:
        uri = self.get_tracking_uri() if uri is None else _normalize(uri)
        # Only the implicit default puts artifacts next to the working directory; for a URI the
        # user chose, the store decides (it knows where its database lives).
        default = self._default
        return uri, (default[1] if default is not None and uri == default[0] else None)

    def reset(self) -> None:
        """Forget the URI and close every cached store (used by tests)."""
        self._uri = None
        self._default = None
        _registry().clear_store_cache()


def _get_store(uri: str, artifact_root: str | None) -> Store:
    store: Store = _registry().get_store(uri, artifact_root)
    return store


def _get_export_store(uri: str, artifact_root: str | None) -> RunWriter:
    store: RunWriter = _registry().get_export_store(uri, artifact_root)
    return store


_store_module: Any = None


def _registry() -> Any:
    """``spanrun.store``, imported on first use (``import spanrun`` stays light); kept here
    because the fluent API asks for its store at every call."""
    global _store_module
    if _store_module is None:
        import spanrun.store

        _store_module = spanrun.store
    return _store_module


_state = _TrackingUriState()

set_tracking_uri = _state.set_tracking_uri
get_tracking_uri = _state.get_tracking_uri
is_tracking_uri_set = _state.is_tracking_uri_set
get_store_for_uri = _state.get_store
get_export_store_for_uri = _state.get_export_store
