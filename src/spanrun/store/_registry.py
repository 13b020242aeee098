"""``get_store``: the store for a tracking URI, cached per process; ``get_export_store``: the
run writer for the run exporter, without SQLAlchemy on SQLite files.

SQLAlchemy is imported only on the ``get_store`` path (this module is loaded by autolog's
exporter, which must not pay for it).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from spanrun.errors import InvalidInputError, StoreError
from spanrun.store._dead_runs import end_dead_runs_once, forget_swept
from spanrun.store.base import RunWriter, Store

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["clear_store_cache", "get_export_store", "get_store"]

ARTIFACTS_DIR_NAME = "spanrun-artifacts"

# Re-entrant: an export writer opening an older database asks get_store to migrate it.
_lock = threading.RLock()
_stores: dict[tuple[str, str | None], Store] = {}
_export_stores: dict[tuple[str, str | None], RunWriter] = {}
# The one store cache of the process, also by the URI as the caller wrote it: the fluent API
# asks for its store at every call, and parsing the URI each time would cost more than a lookup.
_by_given_uri: dict[tuple[str, str | None], Store] = {}
_writers_by_given_uri: dict[tuple[str, str | None], RunWriter] = {}


def _database_url(tracking_uri: str) -> sa.URL:
    """Normalise a tracking URI: absolute SQLite paths, psycopg 3 for plain postgresql://."""
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    from spanrun.store.sqlite._engine import is_memory_url

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
    from spanrun.store.sqlite._engine import is_memory_url

    if url.get_backend_name() == "sqlite" and not is_memory_url(url):
        return str(Path(url.database or "").parent / ARTIFACTS_DIR_NAME)
    return str(Path(ARTIFACTS_DIR_NAME).resolve())


def get_store(tracking_uri: str, artifact_root: str | None = None) -> Store:
    """The store for ``tracking_uri`` (one per URI and artifact root in this process).

    ``sqlite:///relative.db`` (relative to the working directory), ``sqlite:////abs.db``,
    ``postgresql://...`` (psycopg 3). The default artifact root is a ``spanrun-artifacts``
    folder beside the SQLite file, or ``./spanrun-artifacts`` for other databases.
    """
    known = _by_given_uri.get((tracking_uri, artifact_root)) if type(tracking_uri) is str else None
    if known is not None:
        return known
    if not isinstance(tracking_uri, str) or not tracking_uri.strip():
        raise InvalidInputError(f"Invalid tracking URI {tracking_uri!r}")
    if tracking_uri.strip().split(":", 1)[0].lower() in ("http", "https"):
        return _rest_store(tracking_uri, artifact_root)
    url = _database_url(tracking_uri.strip())
    key = (url.render_as_string(hide_password=False), artifact_root)
    created = False
    with _lock:
        store = _stores.get(key)
        if store is None:
            root = artifact_root if artifact_root is not None else _default_artifact_root(url)
            from spanrun.store._sqlalchemy_store import SqlAlchemyStore

            store = SqlAlchemyStore(url, root)
            _stores[key] = store
            created = True
        _by_given_uri[(tracking_uri, artifact_root)] = store
    if created:
        end_dead_runs_once(store)  # a killed process's RUNNING runs (once per database)
    return store


def _rest_store(tracking_uri: str, artifact_root: str | None) -> Store:
    """The REST store of a tracking server (httpx is imported only here)."""
    from spanrun.store.rest import RestStore

    key = (tracking_uri.strip().rstrip("/"), artifact_root)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = RestStore(key[0], artifact_root)
        _by_given_uri[(tracking_uri, artifact_root)] = store
    return store


def _sqlite_file(tracking_uri: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URI (as ``sa.make_url`` reads it), else None
    (in-memory, query options, other schemes: those take the ``get_store`` path)."""
    scheme, sep, rest = tracking_uri.partition("://")
    if not sep or scheme not in ("sqlite", "sqlite+pysqlite") or not rest.startswith("/"):
        return None
    database = unquote(rest[1:])
    if not database or database == ":memory:" or "?" in rest:
        return None
    return Path(database).expanduser().resolve()


def get_export_store(tracking_uri: str, artifact_root: str | None = None) -> RunWriter:
    """The run writer the run exporter writes to for ``tracking_uri`` (one per URI and root).

    For a SQLite file a ``SqlRunWriter`` on a ``SqliteDatabase``, which does not import
    SQLAlchemy (it writes through the same connection as the ``get_store`` store of the file);
    for anything else ``get_store(...)`` itself.
    """
    known = (
        _writers_by_given_uri.get((tracking_uri, artifact_root))
        if type(tracking_uri) is str
        else None
    )
    if known is not None:
        return known
    if not isinstance(tracking_uri, str) or not tracking_uri.strip():
        raise InvalidInputError(f"Invalid tracking URI {tracking_uri!r}")
    uri = tracking_uri.strip()
    path = _sqlite_file(uri)
    if path is None:
        return get_store(uri, artifact_root)
    key = (str(path), artifact_root)
    created = False
    with _lock:
        store = _export_stores.get(key)
        if store is None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"Cannot create the folder of {path}: {e}") from e
            from spanrun.store._run_writer import SqlRunWriter
            from spanrun.store.sqlite._database import SqliteDatabase

            root = (
                artifact_root
                if artifact_root is not None
                else str(path.parent / ARTIFACTS_DIR_NAME)
            )
            store = SqlRunWriter(
                SqliteDatabase(path, root, migrate=lambda: get_store(uri, artifact_root))
            )
            _export_stores[key] = store
            created = True
        _writers_by_given_uri[(tracking_uri, artifact_root)] = store
    if created:
        end_dead_runs_once(store)
    return store


def clear_store_cache() -> None:
    """Close and forget every cached store (tests use this to avoid leaking state)."""
    with _lock:
        stores: list[RunWriter] = [*_export_stores.values(), *_stores.values()]
        _stores.clear()
        _export_stores.clear()
        _by_given_uri.clear()
        _writers_by_given_uri.clear()
    forget_swept()
    for store in stores:
        store.close()


def _clear_after_fork() -> None:
    # A forked child builds fresh stores on its next get_store (SqlAlchemyStore itself drops
    # the connections it inherited; see _common.reset_in_forked_child).
    global _lock
    _lock = threading.RLock()
    _stores.clear()
    _export_stores.clear()
    _by_given_uri.clear()
    _writers_by_given_uri.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_clear_after_fork)
