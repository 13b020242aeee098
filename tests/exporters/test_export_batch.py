"""``Store.log_export_batch``: the SQL store's one-transaction path (SQLite and PostgreSQL) and
the default built on ``log_batch``/``log_spans`` give the same stored data."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from spanrun.core.entities import Param, RunTag, SpanEvent, SpanRecord
from spanrun.errors import InvalidInputError
from spanrun.store import SqlAlchemyStore
from spanrun.store.base import Store

T1, T2, T3 = "a" * 32, "b" * 32, "c" * 32


def _span(trace: str, span: str, parent: str | None, start: int, **kw: Any) -> SpanRecord:
    fields: dict[str, Any] = {
        "name": f"span {span[:2]}",
        "kind": "CLIENT",
        "end_time_ns": start + 5,
    }
    fields.update(kw)
    return SpanRecord(
        trace, span * 16 if len(span) == 1 else span, parent, start_time_ns=start, **fields
    )


@pytest.fixture(params=["bulk", "prepared", "default"])
def write(request: pytest.FixtureRequest, any_store: SqlAlchemyStore) -> Callable[..., Any]:
    """The store's own log_export_batch, the same in two steps (prepare now, write later, as
    the exporter does), or the Store ABC's default on the same store."""
    if request.param == "bulk":
        return any_store.log_export_batch
    if request.param == "prepared":
        return lambda runs, spans=(): any_store.prepare_export_batch(runs, spans)()
    return lambda runs, spans=(): Store.log_export_batch(any_store, runs, spans)


def _run(store: SqlAlchemyStore, name: str = "r") -> str:
    return store.create_run("0", "u", 1, [], name).info.run_id


def history(store: Store, run_id: str, key: str) -> list[tuple[int, int, float]]:
    return [(m.step, m.timestamp, m.value) for m in store.get_metric_history(run_id, key)]


def test_metrics_params_tags_and_latest_values(any_store, write):
    store = any_store
    run_id = _run(store)
    store.log_batch(run_id, params=[Param("llm.model", "first")])
    skipped = write(
        {
            run_id: (
                [("m", 1, 10, 0), ("m", 2.5, 11, 1), ("m", 9, 5, 1), ("n", float("nan"), 7, 0)],
                {"llm.model": "second", "llm.temperature": "0.2"},
                {"spanrun.llm.params_varied": "true"},
            )
        }
    )
    assert skipped == {}
    run = store.get_run(run_id)
    # The batch's latest is (step 1, timestamp 11); a NaN is kept as NaN.
    assert run.data.metrics["m"] == 2.5
    assert math.isnan(run.data.metrics["n"])
    assert history(store, run_id, "m") == [(0, 10, 1.0), (1, 5, 9.0), (1, 11, 2.5)]
    # First value wins, no error; new keys are added.
    assert run.data.params == {"llm.model": "first", "llm.temperature": "0.2"}
    assert run.data.tags["spanrun.llm.params_varied"] == "true"

    # A later batch with an older step does not replace the latest value.
    write({run_id: ([("m", -1, 99, 0)], {}, {"spanrun.llm.params_varied": "false"})})
    run = store.get_run(run_id)
    assert run.data.metrics["m"] == 2.5
    assert run.data.tags["spanrun.llm.params_varied"] == "false"
    assert len(history(store, run_id, "m")) == 4


def test_unknown_and_deleted_runs_are_left_out_and_the_rest_is_written(any_store, write):
    store = any_store
    live, deleted = _run(store, "live"), _run(store, "deleted")
    store.delete_run(deleted)
    skipped = write(
        {
            live: ([("m", 1, 1, 0)], {"p": "v"}, {}),
            deleted: ([("m", 1, 1, 0)], {"p": "v"}, {}),
            "f" * 32: ([("m", 1, 1, 0)], {}, {}),
        },
        [_span(T1, "1", None, 100, run_id=live, experiment_id="0")],
    )
    assert set(skipped) == {deleted, "f" * 32}
    assert "deleted" in skipped[deleted] and "not found" in skipped["f" * 32]
    assert store.get_run(live).data.metrics == {"m": 1.0}
    assert store.get_run(deleted).data.metrics == {}
    assert store.get_run(deleted).data.params == {}
    assert store.get_trace(T1).info.run_id == live


def test_traces_from_one_batch_and_across_batches(any_store, write):
    store = any_store
    run_id = _run(store)
    write(
        {},
        [
            _span(T1, "2", "1" * 16, 110, status_code="ERROR", attributes={"k": [1, 2]}),
            _span(T1, "3", "2" * 16, 120, run_id=run_id, experiment_id="0"),
            _span(T2, "4", "9" * 16, 200, name="continued"),  # its parent is elsewhere
        ],
    )
    info = store.get_trace(T1).info
    assert (info.span_count, info.status, info.run_id, info.name) == (2, "ERROR", run_id, "span 2")
    assert (info.start_time_ns, info.end_time_ns) == (110, 125)
    continued = store.get_trace(T2)
    assert (continued.info.name, continued.info.run_id) == ("continued", None)
    assert continued.spans[0].run_id is None

    # The root arrives in a later batch, and one span is sent again (a retried export).
    write(
        {},
        [
            _span(T1, "1", None, 100, name="root", end_time_ns=300, experiment_id="0"),
            _span(T1, "3", "2" * 16, 120, run_id=run_id, experiment_id="0"),
        ],
    )
    trace = store.get_trace(T1)
    assert (trace.info.span_count, trace.info.name) == (3, "root")
    assert (trace.info.start_time_ns, trace.info.end_time_ns) == (100, 300)
    assert trace.info.status == "ERROR" and trace.info.experiment_id == "0"
    spans = {s.span_id: s for s in trace.spans}
    assert spans["2" * 16].attributes == {"k": [1, 2]}
    assert (spans["1" * 16].parent_span_id, spans["1" * 16].run_id) == (None, None)
    assert [t.trace_id for t in store.search_traces(run_id=run_id)] == [T1]


def test_span_content_round_trips(any_store, write):
    attributes = {
        "text": 'naïve — 日本 "quoted" \n',
        "big": 2**70,
        "nan": float("nan"),
        "seq": ("a", "b"),
        "flag": True,
    }
    resource = {"service.name": "svc"}
    events = (SpanEvent("gen_ai.choice", 7, {"index": 0}),)
    any_store.log_export_batch(
        {}, [_span(T3, "5", None, 1, attributes=attributes, resource=resource, events=events)]
    )
    (span,) = any_store.get_trace(T3).spans
    assert span.attributes["text"] == attributes["text"]
    assert span.attributes["big"] == 2**70
    assert math.isnan(span.attributes["nan"])
    assert span.attributes["seq"] == ["a", "b"]
    assert span.attributes["flag"] is True
    assert span.resource == resource
    assert [(e.name, e.timestamp_ns, e.attributes) for e in span.events] == [
        ("gen_ai.choice", 7, {"index": 0})
    ]


@pytest.mark.parametrize(
    "metrics, params, spans",
    [
        ([("m", "high", 1, 0)], {}, []),
        ([("m", True, 1, 0)], {}, []),
        ([("m", 1, 2**64, 0)], {}, []),
        ([("m", 1)], {}, []),
        ([("", 1, 1, 0)], {}, []),
        ([], {"": "v"}, []),
        ([], {}, [_span(T1, "1", None, -5)]),
        ([], {}, [SpanRecord(T1, "x" * 17, None, "bad id", "CLIENT", 1, 2)]),
    ],
)
def test_bad_input_is_a_typed_error_and_nothing_is_written(any_store, metrics, params, spans):
    store = any_store
    run_id = _run(store)
    # A valid metric and span come first: the error must undo them too.
    runs = {run_id: ([("good", 1, 1, 0), *metrics], params, {})}
    with pytest.raises(InvalidInputError):
        store.log_export_batch(runs, [_span(T2, "1", None, 1), *spans])
    assert store.get_run(run_id).data.metrics == {}
    assert store.search_traces() == []


def test_a_big_batch_on_both_paths_stores_the_same(any_store, tmp_path):
    """Thousands of rows: beyond log_batch's per-call limits, every row arrives."""
    store = any_store
    run_a, run_b = _run(store, "a"), _run(store, "b")
    metrics = [("llm.calls", i + 1, 1000 + i, i) for i in range(2500)]
    params = {f"p{i}": str(i) for i in range(150)}
    spans = [_span(format(i, "032x"), format(i, "016x"), None, i + 1) for i in range(600)]
    store.log_export_batch({run_a: (metrics, params, {})}, spans[:300])
    Store.log_export_batch(store, {run_b: (metrics, params, {})}, spans[300:])
    for run_id in (run_a, run_b):
        run = store.get_run(run_id)
        assert run.data.metrics == {"llm.calls": 2500.0}
        assert run.data.params == params
        assert len(store.get_metric_history(run_id, "llm.calls")) == 2500
    assert len(store.search_traces(max_results=1000)) == 600


def test_tags_are_upserted(any_store, write):
    run_id = _run(any_store)
    any_store.log_batch(run_id, tags=[RunTag("t", "old")])
    write({run_id: ([], {}, {"t": "new", "u": "x"})})
    tags = any_store.get_run(run_id).data.tags
    assert (tags["t"], tags["u"]) == ("new", "x")


# -- fixtures: a fresh SQL store on SQLite, and on PostgreSQL when its binaries exist -------


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[tuple[str, sa.Engine]]:
    from spanrun.testing.postgres import PostgresNotAvailableError, postgres_server

    try:
        with postgres_server() as uri:
            url = sa.make_url(uri).set(drivername="postgresql+psycopg")
            SqlAlchemyStore(url, "unused").close()  # migrate once
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            yield url.render_as_string(hide_password=False), engine
            engine.dispose()
    except PostgresNotAvailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlAlchemyStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'batch.db'}"
    else:
        from spanrun.store._models import metadata

        uri, engine = request.getfixturevalue("_postgres_engine")
        tables = ", ".join(t.name for t in reversed(metadata.sorted_tables))
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY")
            conn.exec_driver_sql(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage) VALUES (0, 'Default', 'unused/0', 'active')"
            )
    store = SqlAlchemyStore(uri, str(tmp_path / "artifacts"))
    yield store
    store.close()


def test_attribute_json_reads_back_as_the_json_module_writes_it():
    import datetime
    import enum
    import json
    import uuid

    from spanrun.store._export_batch import dumps_json

    class Level(enum.IntEnum):
        HIGH = 2

    class Text(str):
        pass

    odd = {
        "int enum": Level.HIGH,
        "str subclass": Text("x"),
        "datetime": datetime.datetime(2024, 1, 1, 12, 30),
        "uuid": uuid.UUID(int=5),
        "list": [1.5, "ü", None],
        "inf": float("inf"),
        "huge": 2**70,
        "lone surrogate": "\ud800",
    }
    for key, value in odd.items():
        expected = json.loads(json.dumps({key: value}, default=str))
        got = json.loads(dumps_json({key: value}))
        assert got == expected or (key == "inf" and math.isinf(got[key])), key
