"""get_store: URI schemes, caching, default artifact roots, fork safety, migrations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from spanrun.core.entities import Metric
from spanrun.errors import InvalidInputError, StoreError
from spanrun.store import SqlAlchemyStore, Store, _migrate, get_store
from spanrun.store._models import SCHEMA_VERSION, metadata
from tests._fork import in_forked_child


def test_sqlite_relative_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = get_store("sqlite:///rel/one.db")
    assert (tmp_path / "rel" / "one.db").exists()
    assert rel.artifact_root == (tmp_path / "rel" / "spanrun-artifacts").as_uri()
    absolute = get_store(f"sqlite:///{tmp_path / 'two.db'}")
    assert str(tmp_path).startswith("/")  # so the URI above has four slashes
    assert (tmp_path / "two.db").exists()
    assert absolute.get_experiment("0").artifact_location == (
        (tmp_path / "spanrun-artifacts").as_uri() + "/0"
    )


def test_cached_per_uri_and_artifact_root(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'c.db'}"
    first = get_store(uri)
    assert get_store(uri) is first
    assert isinstance(first, Store)
    other = get_store(uri, artifact_root=str(tmp_path / "elsewhere"))
    assert other is not first
    assert other.artifact_root == (tmp_path / "elsewhere").as_uri()
    assert get_store(uri, artifact_root=str(tmp_path / "elsewhere")) is other


@pytest.mark.parametrize("uri", ["http://localhost:5000", "https://example.com/spanrun"])
def test_http_uris_give_the_rest_store(uri: str) -> None:
    from spanrun.store.rest import RestStore

    store = get_store(uri)  # no request yet: the server is asked on first use
    assert isinstance(store, RestStore)
    assert store.tracking_uri == uri
    assert get_store(uri + "/") is store


@pytest.mark.parametrize(
    "uri", ["", "mysql://u@h/db", "file:///tmp/x", "postgresql+psycopg2://u@h/db", "::"]
)
def test_unsupported_uris(uri: str) -> None:
    with pytest.raises(InvalidInputError):
        get_store(uri)


def test_postgresql_uses_psycopg3(postgres_uri: str, tmp_path: Path) -> None:
    assert postgres_uri.startswith("postgresql://")
    store = get_store(postgres_uri, artifact_root=str(tmp_path))
    assert isinstance(store, SqlAlchemyStore)
    assert store.engine.url.drivername == "postgresql+psycopg"
    assert store.get_experiment("0").name == "Default"
    explicit = postgres_uri.replace("postgresql://", "postgresql+psycopg://")
    assert get_store(explicit, artifact_root=str(tmp_path)) is store


def test_default_artifact_root_for_postgres(
    postgres_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = get_store(postgres_uri)
    assert store.artifact_root == (tmp_path / "spanrun-artifacts").as_uri()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fresh_store_after_fork(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'f.db'}"
    parent = get_store(uri)
    run_id = parent.create_run("0", "u", 1, [], "r").info.run_id

    def child() -> bool:
        store = get_store(uri)
        store.log_batch(run_id, metrics=[Metric("from_child", 1.0, 1)])
        return store is not parent

    assert in_forked_child(child) == 0
    assert get_store(uri) is parent
    assert parent.get_run(run_id).data.metrics == {"from_child": 1.0}


def _schema_diff(conn: sa.Connection) -> list[object]:
    dialect = conn.dialect.name

    def on_this_dialect(obj: object, name: str, type_: str, reflected: bool, compare_to: object):
        # Alembic ignores Index.ddl_if: skip the model's indexes meant for the other database.
        condition = getattr(obj, "_ddl_if", None)
        return reflected or condition is None or dialect in (condition.dialect or dialect)

    context = MigrationContext.configure(conn, opts={"include_object": on_this_dialect})
    return list(compare_metadata(context, metadata))


def test_new_database_schema_matches_models(store: SqlAlchemyStore) -> None:
    with store.engine.connect() as conn:
        assert _schema_diff(conn) == []
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == SCHEMA_VERSION


def test_migrations_build_the_same_schema(db_uri: str, tmp_path: Path) -> None:
    """Databases made by replaying the Alembic migrations equal new ones (made from models)."""
    engine = sa.create_engine(SqlAlchemyStore(db_uri, str(tmp_path)).engine.url)
    with engine.begin() as conn:  # start over from an empty database
        for table in reversed(metadata.sorted_tables):
            table.drop(conn)
        conn.exec_driver_sql("DROP TABLE alembic_version")
    with engine.begin() as conn:
        _migrate._upgrade(conn)
    with engine.connect() as conn:
        assert _schema_diff(conn) == []
    engine.dispose()
    store = SqlAlchemyStore(db_uri, str(tmp_path))  # adds the Default experiment
    assert store.get_experiment("0").name == "Default"
    store.close()


def test_migrates_only_when_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    original = _migrate._upgrade

    def counting_upgrade(conn: sa.Connection) -> None:
        calls.append(conn)
        original(conn)

    monkeypatch.setattr(_migrate, "_upgrade", counting_upgrade)
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    SqlAlchemyStore(fresh, str(tmp_path)).close()  # new: built from the models and stamped
    SqlAlchemyStore(fresh, str(tmp_path)).close()  # current: one query, nothing else
    assert calls == []

    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = sa.create_engine(behind)
    with engine.begin() as conn:  # a database Alembic knows but that has no revision yet
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
    engine.dispose()
    store = SqlAlchemyStore(behind, str(tmp_path))
    assert len(calls) == 1
    assert store.get_experiment("0").name == "Default"
    store.close()
    SqlAlchemyStore(behind, str(tmp_path)).close()
    assert len(calls) == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'n.db'}"
    SqlAlchemyStore(uri, str(tmp_path)).close()
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="newer"):
        SqlAlchemyStore(uri, str(tmp_path))


def test_sqlite_pragmas(sqlite_store: SqlAlchemyStore) -> None:
    with sqlite_store.engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") >= 60_000


def test_memory_database(tmp_path: Path) -> None:
    store = SqlAlchemyStore("sqlite://", str(tmp_path))
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    store.log_batch(run_id, metrics=[Metric("m", 2.0, 1)])
    assert store.get_run(run_id).data.metrics == {"m": 2.0}
    store.close()


def test_migrations_ship_as_package_data() -> None:
    names = {p.name for p in _migrate.MIGRATIONS_DIR.iterdir()}
    assert {"env.py", "script.py.mako", "versions"} <= names
    assert max(_migrate._known_revisions()) == SCHEMA_VERSION


def test_unusable_locations_are_store_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError):
        get_store(f"sqlite:///{blocker / 'sub' / 'x.db'}")
    with pytest.raises(StoreError):
        get_store("postgresql://nobody@127.0.0.1:1/nothing")  # nothing listens on port 1


def test_a_0001_database_is_migrated_with_its_runs(db_uri: str, tmp_path: Path) -> None:
    """A database of the first schema (before llm_calls) keeps its runs and takes LLM calls."""
    from alembic import command
    from alembic.config import Config

    store = SqlAlchemyStore(db_uri, str(tmp_path))
    run_id = store.create_run("0", "u", 1, [], "old").info.run_id
    store.log_batch(run_id, metrics=[Metric("llm.calls", 1.0, 5, 0)])
    engine = store.engine
    with engine.begin() as conn:  # back to revision 0001
        config = Config()
        config.set_main_option("script_location", str(_migrate.MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
        assert "llm_calls" not in sa.inspect(conn).get_table_names()
    store.close()

    store = SqlAlchemyStore(db_uri, str(tmp_path))  # migrates to the head
    with store.engine.connect() as conn:
        assert _schema_diff(conn) == []
    call = (1, 9, 4, None, None, 2.5, None, None, 2, 4, 0, 0, None)
    assert store.log_export_batch({run_id: ([], {}, {}, [call])}) == {}
    history = store.get_metric_history(run_id, "llm.calls")
    assert [(m.value, m.step) for m in history] == [(1.0, 0), (2.0, 1)]
    assert store.get_run(run_id).data.metrics["llm.latency_ms"] == 2.5
    store.close()


def test_a_0002_database_gets_the_cumulative_metric_names(db_uri: str, tmp_path: Path) -> None:
    """Migration 0003: running totals stored under their first names (llm.total_input_tokens,
    ...) are found under llm.cumulative_* afterwards, history and latest values alike."""
    from alembic import command
    from alembic.config import Config

    store = SqlAlchemyStore(db_uri, str(tmp_path))
    run_id = store.create_run("0", "u", 1, [], "old").info.run_id
    with store.engine.begin() as conn:  # back to revision 0002
        config = Config()
        config.set_main_option("script_location", str(_migrate.MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    # What a store of revision 0002 held: the old names.
    store.log_batch(
        run_id,
        metrics=[
            Metric("llm.total_input_tokens", 5.0, 10, 0),
            Metric("llm.total_input_tokens", 9.0, 11, 1),
            Metric("llm.total_cost_usd", 0.5, 11, 1),
            Metric("llm.total_tokens", 4.0, 11, 1),  # a call's own total: not renamed
        ],
    )
    store.close()

    store = SqlAlchemyStore(db_uri, str(tmp_path))  # migrates to the head
    metrics = store.get_run(run_id).data.metrics
    assert metrics == {
        "llm.cumulative_input_tokens": 9.0,
        "llm.cumulative_cost_usd": 0.5,
        "llm.total_tokens": 4.0,
    }
    history = store.get_metric_history(run_id, "llm.cumulative_input_tokens")
    assert [(m.value, m.step) for m in history] == [(5.0, 0), (9.0, 1)]
    assert store.get_metric_history(run_id, "llm.total_input_tokens") == []
    store.close()
