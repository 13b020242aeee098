"""spanrun.testing.postgres: a private server that leaves nothing behind."""

from __future__ import annotations

import glob
import os

import psycopg
import pytest

from spanrun.testing.postgres import PostgresNotAvailableError, find_postgres_bin, postgres_server


def test_server_starts_and_cleans_up() -> None:
    try:
        find_postgres_bin()
    except PostgresNotAvailableError as e:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {e}")
        pytest.skip(str(e))
    before = set(glob.glob("/tmp/spanrun-pg-*"))
    # private: a server of its own, not the test session's shared one
    with postgres_server("other_db", private=True) as uri:
        assert uri.startswith("postgresql://spanrun@127.0.0.1:") and uri.endswith("/other_db")
        with psycopg.connect(uri) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("other_db",)
        created = set(glob.glob("/tmp/spanrun-pg-*")) - before
        assert len(created) == 1
    assert not (set(glob.glob("/tmp/spanrun-pg-*")) & created)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(uri, connect_timeout=5)
