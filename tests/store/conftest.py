"""Fixtures for the store tests: a fresh store per test on SQLite and on PostgreSQL.

The PostgreSQL server is the session's one (``postgres_uri``, tests/_postgres.py); the store
tests get a database of their own in it. Without PostgreSQL binaries the PostgreSQL half is
skipped, or fails when CI is set.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from spanrun.store import SqlAlchemyStore
from spanrun.store._models import metadata
from spanrun.store._registry import clear_store_cache

_db_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _forget_cached_stores() -> Iterator[None]:
    yield
    clear_store_cache()


def new_postgres_database(server_uri: str) -> str:
    """Create an empty database on the session server; return its URI."""
    name = f"store_test_{os.getpid()}_{next(_db_numbers)}"
    url = sa.make_url(server_uri).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_test_db(postgres_uri: str) -> Iterator[tuple[str, sa.Engine]]:
    """One migrated database for the session, emptied before each test (much faster than a
    new database per test)."""
    uri = new_postgres_database(postgres_uri)
    SqlAlchemyStore(uri, "unused-artifacts").close()  # migrate once
    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    yield uri, engine
    engine.dispose()


def _empty_postgres(engine: sa.Engine) -> None:
    tables = ", ".join(t.name for t in reversed(metadata.sorted_tables))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URI of an empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    uri, engine = request.getfixturevalue("postgres_test_db")
    _empty_postgres(engine)
    return uri


@pytest.fixture
def store(db_uri: str, tmp_path: Path) -> Iterator[SqlAlchemyStore]:
    s = SqlAlchemyStore(db_uri, str(tmp_path / "artifacts"))
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlAlchemyStore]:
    s = SqlAlchemyStore(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    yield s
    s.close()
