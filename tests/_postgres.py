"""The one PostgreSQL server of a test session, shared by every test folder.

The root conftest imports these fixtures. ``_shared_postgres_server`` (autouse, session) wraps
the session in ``spanrun.testing.postgres.shared_postgres_server()``: the server starts at the
first test that needs PostgreSQL (a session that needs none starts none), and every
``postgres_server()`` call, ``postgres_uri`` included, gets a fresh database on that one server.
Without PostgreSQL binaries ``postgres_uri`` skips its tests, or fails them when CI is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from spanrun.testing.postgres import (
    PostgresNotAvailableError,
    postgres_server,
    shared_postgres_server,
)


@pytest.fixture(scope="session", autouse=True)
def _shared_postgres_server() -> Iterator[None]:
    with shared_postgres_server():
        yield


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """The URI of a database of the session's PostgreSQL server."""
    try:
        with postgres_server() as uri:
            yield uri
    except PostgresNotAvailableError as e:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {e}")
        pytest.skip(str(e))
