"""Bring a database to the schema this code expects, cheaply when it already is.

Opening a store costs one query (the Alembic version and whether the Default experiment
exists). Only when the database is new or behind does it take a lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), look again, and run the Alembic
migrations inside that same transaction, so any number of processes may open a new database at
once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from spanrun.errors import StoreError
from spanrun.store._db import Database
from spanrun.store._models import SCHEMA_VERSION, metadata

__all__ = ["MIGRATIONS_DIR", "ensure_schema"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x5350414E52554E  # "SPANRUN"


def _read_version(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


_QUICK_CHECK = sa.text(
    "SELECT version_num, "
    "(SELECT COUNT(*) FROM experiments WHERE experiment_id = 0) AS has_default "
    "FROM alembic_version"
)


def _is_ready(db: Database) -> bool:
    """One query: is the schema current and the Default experiment there?"""
    try:
        with db.engine.connect() as conn:
            row = conn.execute(_QUICK_CHECK).first()
    except sa_exc.DBAPIError:
        return False  # no tables yet (or locked mid-creation): take the slow path
    return row is not None and row[0] == SCHEMA_VERSION and bool(row[1])


def _known_revisions() -> list[str]:
    return sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("*.py"))


_alembic_version = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), primary_key=True),
)


def _create_fresh(conn: sa.Connection) -> None:
    """Build the current schema on an empty database and stamp it as the Alembic head.

    This is Alembic's recipe for new databases ("create_all, then stamp"); a test checks that
    it builds exactly what the migrations build. It saves importing Alembic and replaying
    every migration on each new database.
    """
    metadata.create_all(conn)
    _alembic_version.create(conn)
    conn.execute(sa.insert(_alembic_version).values(version_num=SCHEMA_VERSION))


def _upgrade(conn: sa.Connection) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    try:
        command.upgrade(config, SCHEMA_VERSION)
    except CommandError as e:  # e.g. a revision this spanrun does not know
        raise StoreError(f"Cannot migrate the database: {e}") from e


def ensure_schema(db: Database, initialize: Callable[[sa.Connection], None]) -> None:
    """Migrate when behind, then run ``initialize(conn)`` (idempotent) in the same transaction."""
    if _is_ready(db):
        return

    def migrate(conn: sa.Connection) -> None:
        if db.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        inspector = sa.inspect(conn)
        version = _read_version(conn)
        if version is None and not inspector.get_table_names():
            _create_fresh(conn)
            initialize(conn)
            return
        if version not in (None, *_known_revisions()):
            raise StoreError(
                f"The database schema (revision {version}) is newer than this spanrun "
                f"(revision {SCHEMA_VERSION}); upgrade spanrun."
            )
        if version != SCHEMA_VERSION:
            _upgrade(conn)
        initialize(conn)

    db.write(migrate)
