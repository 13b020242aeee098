"""The exporter's run writer on a SQLite file without SQLAlchemy (``SqlRunWriter`` on a
``SqliteDatabase``) builds, reads and writes exactly what SqlAlchemyStore does, and never
imports SQLAlchemy or Alembic for it."""

from __future__ import annotations

import functools
import math
import random
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from spanrun.core.entities import Metric, RunTag, SpanRecord
from spanrun.errors import InvalidInputError, InvalidStateError, NotFoundError, StoreError
from spanrun.store import RunWriter, SqlAlchemyStore, Store, _migrate, _retry, get_store
from spanrun.store import _export_batch as _bulk
from spanrun.store import _models as m
from spanrun.store._metric_writes import MetricRow, MetricWriter
from spanrun.store._registry import get_export_store
from spanrun.store._run_writer import SqlRunWriter
from spanrun.store.sqlite._database import SqliteDatabase
from spanrun.store.sqlite._ddl import PLANNER_STATS, SCHEMA_VERSION
from spanrun.tracking import _uri
from tests._fork import in_forked_child
from tests.store._spans import make_span

T1, T2, T3 = "1" * 32, "2" * 32, "3" * 32


# -- helpers ---------------------------------------------------------------------------------
def direct_writer(
    path: Path | str, artifact_root: str, migrate: Callable[[], object] | None = None
) -> SqlRunWriter:
    """What get_export_store builds for a SQLite file."""
    return SqlRunWriter(SqliteDatabase(path, artifact_root, migrate))


def _no_migration() -> None:
    raise AssertionError("asked for a migration")


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _schema(path: Path) -> dict[str, Any]:
    """Everything PRAGMAs say about each table: columns, indexes, foreign keys, WITHOUT ROWID."""
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {}
        tables = conn.execute(
            "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        for table, without_rowid in tables:
            indexes = {}
            for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
                columns = conn.execute(f"PRAGMA index_xinfo({name})").fetchall()
                indexes[name] = (unique, origin, partial, columns)
            out[table] = {
                "columns": conn.execute(f"PRAGMA table_info({table})").fetchall(),
                "indexes": indexes,
                "foreign_keys": conn.execute(f"PRAGMA foreign_key_list({table})").fetchall(),
                "without_rowid": without_rowid,
            }
        return out
    finally:
        conn.close()


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tracking tables, in a stable order (NaN-safe: SQLite stores NULL)."""
    tables = ("experiments", "runs", "params", "tags", "metrics", "latest_metrics")
    out = {t: _rows(path, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    out["spans"] = _rows(path, "SELECT * FROM spans ORDER BY trace_id, span_id")
    out["traces"] = _rows(path, "SELECT * FROM traces ORDER BY trace_id")
    return out


def _copy(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database (WAL included)."""
    conn = sqlite3.connect(src)
    try:
        conn.execute("VACUUM INTO ?", (str(dst),))
    finally:
        conn.close()


def _span(trace_id: str, span_id: str, parent: str | None, start: int, **kw: Any) -> SpanRecord:
    # an infinite attribute: both stores must serialise it alike
    return make_span(
        trace_id,
        span_id,
        parent,
        start,
        attributes={"gen_ai.usage.input_tokens": 3, "odd": math.inf},
        **kw,
    )


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[SqlRunWriter]:
    store = direct_writer(tmp_path / "direct.db", str(tmp_path / "artifacts"))
    yield store
    store.close()


# -- schema ----------------------------------------------------------------------------------
def test_static_ddl_builds_the_migrations_schema(tmp_path: Path) -> None:
    root = str(tmp_path / "artifacts")
    direct_writer(tmp_path / "direct.db", root).close()
    SqlAlchemyStore(f"sqlite:///{tmp_path / 'models.db'}", root).close()
    # Replaying the Alembic migrations on an empty file, then opening it (Default experiment).
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'alembic.db'}")
    with engine.begin() as conn:
        _migrate._upgrade(conn)
    engine.dispose()
    SqlAlchemyStore(f"sqlite:///{tmp_path / 'alembic.db'}", root).close()

    direct = _schema(tmp_path / "direct.db")
    assert set(direct) == {t.name for t in m.metadata.sorted_tables} | {"alembic_version"}
    assert direct["latest_metrics"]["without_rowid"] == 1
    assert direct["metrics"]["without_rowid"] == 0
    assert "ix_params_key_value" in direct["params"]["indexes"]
    for other in ("models.db", "alembic.db"):
        theirs = _schema(tmp_path / other)
        for table in direct:
            assert direct[table] == theirs[table], (other, table)
    for other in ("models.db", "alembic.db"):
        for sql in ("SELECT * FROM alembic_version", "SELECT * FROM sqlite_stat1 ORDER BY 1, 2"):
            assert _rows(tmp_path / "direct.db", sql) == _rows(tmp_path / other, sql)
    assert _rows(tmp_path / "direct.db", "SELECT * FROM alembic_version") == [(SCHEMA_VERSION,)]
    assert len(_rows(tmp_path / "direct.db", "SELECT * FROM sqlite_stat1")) == len(PLANNER_STATS)
    # The Default experiment, made the same way (creation times aside).
    default = "SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments"
    assert _rows(tmp_path / "direct.db", default) == _rows(tmp_path / "models.db", default)
    assert _rows(tmp_path / "direct.db", default) == [
        (0, "Default", f"{(tmp_path / 'artifacts').as_uri()}/0", "active")
    ]


def test_connection_pragmas(direct: SqlRunWriter) -> None:
    def pragmas(cursor: sqlite3.Cursor) -> list[Any]:
        names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        return [cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in names]

    db = direct.database
    assert db.write_raw(pragmas) == ["wal", 1, 1, 60_000]
    assert db.read_raw(pragmas) == ["wal", 1, 1, 60_000]


def test_hand_written_sqlite_statements_match_sqlalchemy(direct: SqlRunWriter) -> None:
    qmark = sqlite_dialect(paramstyle="qmark")
    kv = ["run_id", "key", "value"]
    ins = sqlite_insert(m.params)
    params = ins.on_conflict_do_nothing(index_elements=[m.params.c.run_id, m.params.c.key])
    assert str(params.compile(dialect=qmark, column_keys=kv)) == _bulk.SQLITE_INSERT_PARAMS
    ins = sqlite_insert(m.tags)
    tags = ins.on_conflict_do_update(
        index_elements=[m.tags.c.run_id, m.tags.c.key], set_={"value": ins.excluded.value}
    )
    assert str(tags.compile(dialect=qmark, column_keys=kv)) == _bulk.SQLITE_UPSERT_TAGS
    # The multi-row statements, one row, as SQLAlchemy compiles them.
    stmts = _bulk.BulkStatements(direct)
    assert stmts.insert_params._statement(1) == _bulk.SQLITE_INSERT_PARAMS
    assert stmts.upsert_tags._statement(1) == _bulk.SQLITE_UPSERT_TAGS
    for many, table, null_if_empty, upsert in (
        (stmts.upsert_spans, m.spans, ("parent_span_id", "run_id"), True),
        (stmts.insert_traces, m.traces, ("run_id",), False),
        (stmts.upsert_traces, m.traces, ("run_id",), True),
    ):
        values: dict[str, Any] = {c.name: sa.bindparam(c.name) for c in table.c}
        for name in null_if_empty:
            values[name] = sa.func.nullif(sa.bindparam(name), sa.literal_column("''"))
        stmt = sqlite_insert(table).values(values)
        if upsert:
            stmt = stmt.on_conflict_do_update(
                index_elements=[c for c in table.c if c.primary_key],
                set_={c.name: stmt.excluded[c.name] for c in table.c if not c.primary_key},
            )
        compiled = stmt.compile(dialect=qmark)
        assert list(compiled.positiontup or ()) == [c.name for c in table.c]
        assert many._statement(1) == str(compiled)


# -- one file, both stores -------------------------------------------------------------------
def test_each_store_opens_the_others_database_without_migrating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_migration(*args: Any) -> None:
        raise AssertionError("migrated again")

    root = str(tmp_path / "artifacts")
    first = direct_writer(tmp_path / "a.db", root)
    run_a = first.create_run("0", "u", 5, [RunTag("k", "v")], "from-direct").info.run_id
    first.close()
    monkeypatch.setattr(_migrate, "_upgrade", no_migration)
    monkeypatch.setattr(_migrate, "_create_fresh", no_migration)
    sa_store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'a.db'}", root)
    assert sa_store.get_run(run_a).data.tags == {"k": "v", "mlflow.runName": "from-direct"}
    sa_store.log_batch(run_a, metrics=[Metric("m", 2.0, 7, 1)])
    sa_store.close()
    # Opening a current database needs no SqlAlchemyStore.
    again = direct_writer(tmp_path / "a.db", root, _no_migration)
    assert again.get_run(run_a).data.metrics == {"m": 2.0}
    again.close()

    monkeypatch.undo()
    made_by_sa = SqlAlchemyStore(f"sqlite:///{tmp_path / 'b.db'}", root)
    run_b = made_by_sa.create_run("0", "u", 5, [], "from-sa").info.run_id
    made_by_sa.close()
    schema = _schema(tmp_path / "b.db")
    direct = direct_writer(tmp_path / "b.db", root, _no_migration)
    assert direct.get_run(run_b).info.run_name == "from-sa"
    direct.close()
    assert _schema(tmp_path / "b.db") == schema


def test_runs_created_by_both_stores_are_identical(tmp_path: Path) -> None:
    root = str(tmp_path / "artifacts")
    direct = direct_writer(tmp_path / "s.db", root)
    sa_store = SqlAlchemyStore(f"sqlite:///{tmp_path / 's.db'}", root)
    exp = sa_store.create_experiment("exp", artifact_location=str(tmp_path / "elsewhere"))
    cases: list[tuple[Any, ...]] = [
        ("0", "alice", 123, [RunTag("a", 1), RunTag("b", "x")], "named"),  # type: ignore[arg-type]
        (exp, "", None, [RunTag("mlflow.runName", "from-tag")], None),
        (exp, None, "456", [], ""),
    ]
    for args in cases:
        a = direct.create_run(*args)
        b = sa_store.create_run(*args)
        ignore = {"run_id", "artifact_uri", "start_time", "run_name"}
        fields_a = {k: v for k, v in vars(a.info).items() if k not in ignore}
        assert fields_a == {k: v for k, v in vars(b.info).items() if k not in ignore}
        for run in (a, b):
            location = sa_store.get_experiment(args[0]).artifact_location
            assert run.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"
            assert run.data.tags["mlflow.runName"] == run.info.run_name
            if args[4] or args[3]:  # a name given or in the tags
                assert run.info.run_name == (args[4] or "from-tag")
            else:  # a random readable one
                assert run.info.run_name.count("-") == 2
            if args[2] is not None:
                assert run.info.start_time == int(args[2])
        assert set(a.data.tags) == set(b.data.tags)
        # Each store reads both runs the same way, and as create_run returned them.
        for run in (a, b):
            assert direct.get_run(run.info.run_id) == sa_store.get_run(run.info.run_id)
            assert direct.get_run(run.info.run_id).info == run.info
    run_id = a.info.run_id
    for store in (direct, sa_store):
        info = store.update_run_info(run_id, status="FINISHED", end_time=99, run_name="renamed")
        assert info.status == "FINISHED" and info.end_time == 99 and info.run_name == "renamed"
        assert direct.get_run(run_id) == sa_store.get_run(run_id)
    assert direct.get_run(run_id).data.tags["mlflow.runName"] == "renamed"
    assert direct.update_run_info(run_id) == sa_store.update_run_info(run_id)
    direct.close()
    sa_store.close()


def _error(call: Callable[[], Any]) -> tuple[type[BaseException], str]:
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


def test_errors_are_typed_as_in_sqlalchemy_store(tmp_path: Path) -> None:
    root = str(tmp_path / "artifacts")
    direct = direct_writer(tmp_path / "e.db", root)
    sa_store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'e.db'}", root)
    gone = sa_store.create_run("0", "u", 1, [], "gone").info.run_id
    sa_store.delete_run(gone)
    deleted_exp = sa_store.create_experiment("deleted")
    sa_store.delete_experiment(deleted_exp)
    calls: list[Callable[[Store], Any]] = [
        lambda s: s.get_run("f" * 32),
        lambda s: s.update_run_info("f" * 32, status="FINISHED"),
        lambda s: s.update_run_info(gone, status="FINISHED"),
        lambda s: s.update_run_info(gone, status="DONE"),
        lambda s: s.update_run_info(gone, end_time="soon"),  # type: ignore[arg-type]
        lambda s: s.update_run_info(gone, end_time=2**63),
        lambda s: s.update_run_info(gone, run_name="x" * 251),
        lambda s: s.create_run("12345", "u", 1, [], None),
        lambda s: s.create_run("not an id", "u", 1, [], None),
        lambda s: s.create_run(deleted_exp, "u", 1, [], None),
        lambda s: s.create_run("0", "u" * 257, 1, [], None),
        lambda s: s.create_run("0", "u", 1, [RunTag("", "v")], None),
        lambda s: s.create_run("0", "u", "later", [], None),  # type: ignore[arg-type]
        lambda s: s.log_export_batch({gone: ([("m", "NaN?", 1, 0)], {}, {})}),  # type: ignore[list-item]
    ]
    expected_types = [
        NotFoundError,
        NotFoundError,
        InvalidStateError,
        InvalidInputError,
        InvalidInputError,
        InvalidInputError,
        InvalidInputError,
        NotFoundError,
        NotFoundError,
        InvalidStateError,
        InvalidInputError,
        InvalidInputError,
        InvalidInputError,
        InvalidInputError,
    ]
    for call, expected in zip(calls, expected_types, strict=True):
        mine = _error(functools.partial(call, direct))
        assert mine == _error(functools.partial(call, sa_store))
        assert mine[0] is expected
    assert direct.get_run(gone).info.lifecycle_stage == "deleted"
    direct.close()
    sa_store.close()


def test_lock_errors_are_retried_and_others_become_store_errors(
    direct: SqlRunWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_retry, "backoff", lambda attempt: None)
    run = direct.create_run("0", "u", 1, [], "r").info.run_id
    real_run = direct.database._writer.run  # type: ignore[attr-defined]
    failures = [sqlite3.OperationalError("database is locked")] * 3

    def flaky(fn: Callable[[Any], Any]) -> Any:
        if failures:
            raise failures.pop()
        return real_run(fn)

    monkeypatch.setattr(direct.database._writer, "run", flaky)  # type: ignore[attr-defined]
    assert direct.log_export_batch({run: ([("m", 1.0, 1, 0)], {}, {})}) == {}
    assert failures == [] and direct.get_run(run).data.metrics == {"m": 1.0}
    failures[:] = [sqlite3.OperationalError("disk I/O error")]
    with pytest.raises(StoreError, match="disk I/O error"):
        direct.update_run_info(run, status="FINISHED")
    failures[:] = [sqlite3.OperationalError("database is locked")] * _retry.MAX_ATTEMPTS
    with pytest.raises(StoreError, match="database is locked"):
        direct.update_run_info(run, status="FINISHED")


# -- export batches --------------------------------------------------------------------------
def _batches(runs: list[str], gone: str) -> list[tuple[dict[str, Any], list[SpanRecord]]]:
    a, b = runs
    many = [(f"k{i % 3}", float(i), 1000 + i, i // 2) for i in range(100)]  # few keys, many rows
    return [
        (
            {
                a: (
                    [("llm.calls", 1.0, 10, 0), ("llm.calls", 2.0, 11, 1), ("x", math.nan, 5, 0)],
                    {"llm.model": "gpt-4o", "llm.temperature": 0.2},
                    {"spanrun.llm.params_varied": "true"},
                ),
                b: (many, {}, {"t": "1"}),
                gone: ([("m", 1.0, 1, 0)], {"p": "1"}, {"t": "1"}),
                "f" * 32: ([("m", 1.0, 1, 0)], {}, {}),
            },
            [
                _span(T1, "a" * 16, None, 100, run_id=a, experiment_id="0"),
                _span(T1, "b" * 16, "a" * 16, 150, run_id=a, experiment_id="0"),
                _span(T2, "c" * 16, None, 200, status_code="ERROR", run_id=b, experiment_id="0"),
                _span(T3, "d" * 16, "9" * 16, 300, name="orphan"),
            ],
        ),
        (
            {
                a: ([("llm.calls", 0.5, 99, 0)], {"llm.model": "other"}, {"t": "2"}),
                b: ([("llm.calls", 3, 12, 2), ("inf", -math.inf, 1, 0)], {"p": "x"}, {}),
            },
            [  # a stored trace widened (recomputed), a span replaced
                _span(T1, "e" * 16, "a" * 16, 50, run_id=a, experiment_id="0"),
                _span(T2, "c" * 16, None, 200, name="renamed", run_id=b, experiment_id="0"),
            ],
        ),
    ]


def test_export_batches_write_identical_rows(tmp_path: Path) -> None:
    root = str(tmp_path / "artifacts")
    seed = SqlAlchemyStore(f"sqlite:///{tmp_path / 'seed.db'}", root)
    runs = [seed.create_run("0", "u", 1, [], name).info.run_id for name in ("a", "b")]
    gone = seed.create_run("0", "u", 1, [], "gone").info.run_id
    seed.delete_run(gone)
    seed.close()
    _copy(tmp_path / "seed.db", tmp_path / "direct.db")
    _copy(tmp_path / "seed.db", tmp_path / "sa.db")
    direct = direct_writer(tmp_path / "direct.db", root)
    sa_store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'sa.db'}", root)
    for batch, spans in _batches(runs, gone):
        skipped = direct.log_export_batch(batch, spans)
        assert skipped == sa_store.log_export_batch(batch, spans)
        assert set(skipped) == {gone, "f" * 32} or skipped == {}
    for run_id in runs:
        assert direct.get_run(run_id) == sa_store.get_run(run_id)
    assert direct.get_run(runs[0]).data.params["llm.model"] == "gpt-4o"  # the first value wins
    direct.close()
    sa_store.close()
    mine, theirs = _dump(tmp_path / "direct.db"), _dump(tmp_path / "sa.db")
    assert mine == theirs
    assert len(mine["metrics"]) == 106 and len(mine["spans"]) == 5 and len(mine["traces"]) == 3
    assert ("renamed",) in [(s[3],) for s in mine["spans"]]


def test_the_export_writer_is_a_run_writer_only(direct: SqlRunWriter, tmp_path: Path) -> None:
    assert isinstance(direct, RunWriter) and not isinstance(direct, Store)
    assert {direct: 1}[direct] == 1  # hashable: the exporter keys its sessions by store
    sa_store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'direct.db'}", str(tmp_path / "artifacts"))
    exp = sa_store.create_experiment("elsewhere")
    run = direct.create_run(exp, "u", 1, [], "r").info.run_id
    direct.log_export_batch({run: ([("m", 1.0, 1, 0)], {}, {})})
    assert [r.info.run_id for r in sa_store.search_runs([exp])] == [run]
    sa_store.close()
    direct.close()
    assert direct.get_run(run).data.metrics == {"m": 1.0}  # usable after close, as the others


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SqlAlchemyStore(f"sqlite:///{tmp_path / 'n.db'}", str(tmp_path)).close()
    conn = sqlite3.connect(tmp_path / "n.db")
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this spanrun"):
        direct_writer(tmp_path / "n.db", str(tmp_path))


def test_survives_fork(direct: SqlRunWriter) -> None:
    run_id = direct.create_run("0", "u", 1, [], "r").info.run_id
    direct.get_run(run_id)  # the parent has a read connection too

    def child() -> bool:
        direct.log_export_batch({run_id: ([("from_child", 1.0, 1, 0)], {}, {})})
        return direct.get_run(run_id).data.metrics == {"from_child": 1.0}

    assert in_forked_child(child) == 0
    direct.log_export_batch({run_id: ([("from_parent", 2.0, 1, 0)], {}, {})})
    assert direct.get_run(run_id).data.metrics == {"from_child": 1.0, "from_parent": 2.0}


# -- registry --------------------------------------------------------------------------------
def test_get_export_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = get_export_store("sqlite:///rel/one.db")
    assert isinstance(store, SqlRunWriter)
    assert store.path == str(tmp_path / "rel" / "one.db")
    assert get_export_store(f"sqlite:///{tmp_path / 'rel' / 'one.db'}") is store
    assert store.database.artifact_root == get_store("sqlite:///rel/one.db").artifact_root  # type: ignore[attr-defined]
    run = store.create_run("0", "u", 1, [], "r").info.run_id
    assert get_store("sqlite:///rel/one.db").get_run(run).info.run_name == "r"
    elsewhere = get_export_store("sqlite:///rel/one.db", artifact_root=str(tmp_path / "x"))
    assert isinstance(elsewhere, SqlRunWriter) and elsewhere is not store
    assert elsewhere.database.artifact_root == (tmp_path / "x").as_uri()  # type: ignore[attr-defined]
    assert elsewhere.get_run(run).info.run_name == "r"
    memory = get_export_store("sqlite://")
    assert isinstance(memory, SqlAlchemyStore) and memory is get_store("sqlite://")
    with pytest.raises(InvalidInputError):
        get_export_store("mysql://u@h/db")
    with pytest.raises(InvalidInputError):
        get_export_store("  ")


def test_get_export_store_for_uri_follows_the_tracking_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _uri._state.reset()
    monkeypatch.chdir(tmp_path)
    store = _uri.get_export_store_for_uri()
    assert isinstance(store, SqlRunWriter)
    assert store.path == str(tmp_path / "spanrun.db")
    assert store.database.artifact_root == _uri.get_store_for_uri().artifact_root  # type: ignore[attr-defined]
    assert store.database.artifact_root == (tmp_path / "spanrun-artifacts").as_uri()  # type: ignore[attr-defined]
    assert _uri.get_export_store_for_uri() is store
    _uri.set_tracking_uri(tmp_path / "other.db")
    other = _uri.get_export_store_for_uri()
    assert isinstance(other, SqlRunWriter) and other.path == str(tmp_path / "other.db")
    # The default database named explicitly is still the default (same artifact root).
    assert _uri.get_export_store_for_uri(str(tmp_path / "spanrun.db")) is store
    assert _uri.get_export_store_for_uri() is other
    _uri._state.reset()


_NO_SQLALCHEMY = textwrap.dedent(
    """
    import sys
    from spanrun.tracking._uri import get_export_store_for_uri, set_tracking_uri
    from spanrun.store._run_writer import SqlRunWriter
    from spanrun.store.base import RunWriter
    from spanrun.core.entities import RunTag, SpanRecord

    set_tracking_uri(sys.argv[1])
    store = get_export_store_for_uri()
    assert isinstance(store, SqlRunWriter) and isinstance(store, RunWriter)
    run = store.create_run("0", "me", None, [RunTag("a", "b")], None).info.run_id
    span = SpanRecord(
        trace_id="1" * 32, span_id="2" * 16, parent_span_id=None, name="chat m", kind="CLIENT",
        start_time_ns=1, end_time_ns=2, attributes={}, resource={}, run_id=run,
        experiment_id="0",
    )
    skipped = store.log_export_batch(
        {run: ([("llm.calls", 1.0, 1, 0)], {"llm.model": "m"}, {"t": "v"})}, [span]
    )
    assert skipped == {}
    data = store.get_run(run).data
    assert data.metrics == {"llm.calls": 1.0} and data.params == {"llm.model": "m"}
    store.update_run_info(run, status="FINISHED", end_time=3)
    store.close()
    print(sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic")))
    """
)


def test_the_export_path_never_imports_sqlalchemy(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'sub' / 'x.db'}"
    result = subprocess.run(
        [sys.executable, "-c", _NO_SQLALCHEMY, uri], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    # ... and what it wrote is what SqlAlchemyStore reads.
    sa_store = SqlAlchemyStore(uri, str(tmp_path))
    (run,) = sa_store.search_runs(["0"])
    assert run.info.status == "FINISHED" and run.data.tags["a"] == "b"
    assert sa_store.get_trace(T1).info.span_count == 1
    sa_store.close()


def test_many_runs_metric_writes_equal_per_run_writes(tmp_path: Path) -> None:
    """MetricWriter.write_runs (all runs' rows in shared statements, latest values computed in
    SQLite) leaves exactly the rows that per-run ``write`` calls leave."""
    root = str(tmp_path / "artifacts")
    seed = SqlAlchemyStore(f"sqlite:///{tmp_path / 'seed.db'}", root)
    runs = [seed.create_run("0", "u", 1, [], f"r{i}").info.run_id for i in range(3)]
    seed.close()
    _copy(tmp_path / "seed.db", tmp_path / "per_run.db")
    _copy(tmp_path / "seed.db", tmp_path / "shared.db")
    per_run = SqliteDatabase(tmp_path / "per_run.db", root)
    shared = SqliteDatabase(tmp_path / "shared.db", root)
    writer = MetricWriter(shared)
    rng = random.Random(7)
    values = [0.5, -1.0, math.nan, math.inf, -math.inf, 3]
    for _ in range(12):
        sizes = [rng.choice([0, 1, 5, 70, 600]) for _run in runs]
        batch_rows: dict[str, Sequence[MetricRow]] = {
            run: [
                # Few steps and timestamps: many ties, older steps after newer ones.
                (rng.choice("abc"), rng.choice(values), rng.randrange(3), rng.randrange(4))
                for _ in range(size)
            ]
            for run, size in zip(runs, sizes, strict=True)
            if size
        }

        def one_by_one(cursor: Any, rows: dict[str, Sequence[MetricRow]] = batch_rows) -> None:
            for run_id, run_rows in rows.items():
                writer.write(cursor, run_id, run_rows)

        per_run.write_raw(one_by_one)
        shared.write_raw(functools.partial(writer.write_runs, runs=batch_rows))
    per_run.close()
    shared.close()
    for table in ("metrics", "latest_metrics"):
        sql = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert _rows(tmp_path / "shared.db", sql) == _rows(tmp_path / "per_run.db", sql)
    assert len(_rows(tmp_path / "shared.db", "SELECT * FROM latest_metrics")) == 9
