"""Tracking stores: where experiments, runs, metrics, params, tags and traces are kept.

``get_store(tracking_uri, artifact_root=None)`` picks the backend from the URI scheme and keeps
one store per (URI, artifact root) in the process (a forked child gets fresh ones):

- ``sqlite:///relative.db`` (relative to the working directory) or ``sqlite:////abs/path.db``:
  the embedded default. Many processes and threads may log into one file at once: the file is
  in WAL mode, writers take the lock up front (``BEGIN IMMEDIATE``) and wait for it up to 60 s,
  and lock errors are retried, so no caller sees "database is locked". Whatever a call has
  returned from survives a crash of the process (kill -9); a power loss or OS crash may lose
  the last transactions before the next WAL sync/checkpoint, never corrupting the file.
- ``postgresql://user@host/db`` (psycopg 3; ``postgresql+psycopg://`` works too).
- ``http(s)://host:port``: the REST store (``spanrun.store.rest``): a ``spanrun server`` or a
  stock ``mlflow server``, over MLflow's REST API.

Artifacts go under ``artifact_root`` (default: ``spanrun-artifacts`` beside the SQLite file,
else ``./spanrun-artifacts``): ``<root>/<experiment_id>/<run_id>/artifacts``, as file:// URIs.

The schema is managed with Alembic (``spanrun/store/migrations``). Opening a store costs one
query; a new database is built and stamped at the current revision, an older one migrated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spanrun.store.base import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    MetricHistory,
    RunKeys,
    RunWriter,
    Store,
    TraceFilter,
)

if TYPE_CHECKING:
    from spanrun.store._registry import clear_store_cache, get_export_store, get_store
    from spanrun.store._sqlalchemy_store import SqlAlchemyStore

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "DEFAULT_EXPERIMENT_NAME",
    "MetricHistory",
    "RunKeys",
    "RunWriter",
    "SqlAlchemyStore",
    "Store",
    "TraceFilter",
    "clear_store_cache",
    "get_export_store",
    "get_store",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use (PEP 562): importing spanrun.store.base (the exporter does) must not
    # import SQLAlchemy, which costs ~12 MB of RSS in a process that only autologs.
    if name == "SqlAlchemyStore":
        from spanrun.store._sqlalchemy_store import SqlAlchemyStore

        globals()[name] = SqlAlchemyStore
        return SqlAlchemyStore
    if name in ("get_store", "get_export_store", "clear_store_cache"):
        from spanrun.store import _registry

        found = getattr(_registry, name)
        globals()[name] = found
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
