"""``get_store``: the store for a tracking URI, cached per process."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from spanrun.errors import InvalidInputError, StoreError
from spanrun.store._sqlalchemy_store import SqlAlchemyStore
from spanrun.store._sqlite import is_memory_url
from spanrun.store.base import Store

__all__ = ["clear_store_cache", "get_store"]

ARTIFACTS_DIR_NAME = "spanrun-artifacts"

_lock = threading.Lock()
_stores: dict[tuple[str, str | None], Store] = {}


def _database_url(tracking_uri: str) -> sa.URL:
    """Normalise a tracking URI: absolute SQLite paths, psycopg 3 for plain postgresql://."""
    scheme = tracking_uri.split(":", 1)[0].lower() if ":" in tracking_uri else ""
    if scheme in ("http", "https"):
        raise InvalidInputError(
            f"Tracking URI {tracking_uri!r}: the REST store (spanrun server) is not available "
            "yet; use a sqlite:/// or postgresql:// URI"
        )
    try:
        url = sa.make_url(tracking_uri)
    except sa_exc.ArgumentError:
        raise InvalidInputError(
            f"Invalid tracking URI {tracking_uri!r} (expected sqlite:///path.db or "
            "postgresql://user@host/db)"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise InvalidInputError(f"Unsupported SQLite driver in {tracking_uri!r}")
        if is_memory_url(url):
            return url
        path = Path(url.database or "").expanduser().resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"Cannot create the folder of {path}: {e}") from e
        return url.set(drivername="sqlite", database=str(path))
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise InvalidInputError(
                f"Unsupported PostgreSQL driver {driver!r} in {tracking_uri!r}: spanrun uses "
                "psycopg 3 (postgresql:// or postgresql+psycopg://)"
            )
        return url.set(drivername="postgresql+psycopg")
    raise InvalidInputError(
        f"Unsupported tracking URI {tracking_uri!r} (expected sqlite:///path.db, "
        "postgresql://... or http(s)://...)"
    )


def _default_artifact_root(url: sa.URL) -> str:
    if url.get_backend_name() == "sqlite" and not is_memory_url(url):
        return str(Path(url.database or "").parent / ARTIFACTS_DIR_NAME)
    return str(Path(ARTIFACTS_DIR_NAME).resolve())


def get_store(tracking_uri: str, artifact_root: str | None = None) -> Store:
    """The store for ``tracking_uri`` (one per URI and artifact root in this process).

    ``sqlite:///relative.db`` (relative to the working directory), ``sqlite:////abs.db``,
    ``postgresql://...`` (psycopg 3). The default artifact root is a ``spanrun-artifacts``
    folder beside the SQLite file, or ``./spanrun-artifacts`` for other databases.
    """
    if not isinstance(tracking_uri, str) or not tracking_uri.strip():
        raise InvalidInputError(f"Invalid tracking URI {tracking_uri!r}")
    url = _database_url(tracking_uri.strip())
    key = (url.render_as_string(hide_password=False), artifact_root)
    with _lock:
        store = _stores.get(key)
        if store is None:
            root = artifact_root if artifact_root is not None else _default_artifact_root(url)
            store = SqlAlchemyStore(url, root)
            _stores[key] = store
        return store


def clear_store_cache() -> None:
    """Close and forget every cached store (tests use this to avoid leaking state)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()


def _clear_after_fork() -> None:
    # A forked child builds fresh stores on its next get_store (SqlAlchemyStore itself drops
    # the connections it inherited; see _sqlalchemy_store._reset_stores_after_fork).
    global _lock
    _lock = threading.Lock()
    _stores.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_clear_after_fork)
