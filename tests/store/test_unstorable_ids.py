"""Ids and keys no store can hold (NUL, which PostgreSQL refuses, and lone surrogates) are a
typed error on every store, never a database error; span text is kept with them replaced."""

from __future__ import annotations

import pytest

from spanrun.core.entities import Metric, SpanEvent, SpanRecord
from spanrun.errors import InvalidInputError, NotFoundError
from spanrun.store import SqlAlchemyStore

T = "1" * 32


def _span(**kw: object) -> SpanRecord:
    fields: dict[str, object] = dict(
        trace_id=T, span_id="2" * 16, parent_span_id=None, name="s", kind="CLIENT",
        start_time_ns=1, end_time_ns=2,
    )  # fmt: skip
    fields.update(kw)
    return SpanRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", [{"run_id": "r\x00"}, {"experiment_id": "\x00"}, {"span_id": "\ud800"}]
)
def test_span_ids_that_no_store_holds_are_refused(store: SqlAlchemyStore, bad: dict) -> None:
    with pytest.raises(InvalidInputError):
        store.log_spans([_span(**bad)])


def test_span_text_is_kept_with_bad_characters_replaced(store: SqlAlchemyStore) -> None:
    store.log_spans(
        [
            _span(
                name="n\x00",
                status_message="\ud800",
                attributes={"k\x00": "v\x00"},
                resource={"a": "\x00"},
                events=(SpanEvent("\x00", 1, {"\x00": "\x00"}),),
            )
        ]
    )
    (span,) = store.get_trace(T).spans
    assert span.name == "n\ufffd" and span.status_message == "\ufffd"


def test_export_batch_run_ids_and_keys(store: SqlAlchemyStore) -> None:
    run = store.create_run("0", "u", 1, [], "r").info.run_id
    with pytest.raises(InvalidInputError):
        store.log_export_batch({"r\x00": ([("m", 1.0, 1, 0)], {}, {})})
    with pytest.raises(InvalidInputError):
        store.log_export_batch({run: ([("m\x00", 1.0, 1, 0)], {}, {})})
    with pytest.raises(InvalidInputError):
        store.log_export_batch({run: ([], {"p\x00": "v"}, {})})
    with pytest.raises(InvalidInputError):
        store.log_batch(run, metrics=[Metric("\ud800", 1.0, 1, 0)])
    assert store.get_run(run).data.metrics == {}


def test_get_trace_of_an_impossible_id_is_not_found(store: SqlAlchemyStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_trace("a\x00")
