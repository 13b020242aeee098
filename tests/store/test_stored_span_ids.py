"""``Store.stored_span_ids``: the span ids stored per trace, for many traces in one read (the
OTLP receiver's duplicate check), on SQLite and PostgreSQL, and the base class's default."""

from __future__ import annotations

from spanrun.store import SqlAlchemyStore
from spanrun.store.base import Store
from tests.store._spans import make_span

T1, T2, T3 = "1" * 32, "2" * 32, "3" * 32


def test_stored_span_ids_of_many_traces(store: SqlAlchemyStore) -> None:
    store.log_spans(
        [
            make_span(T1, "a" * 16, None, 10),
            make_span(T1, "b" * 16, "a" * 16, 11),
            make_span(T2, "c" * 16, None, 12),
        ]
    )
    wanted = [T1, T2, T3, T1, "not-an-id"]
    assert store.stored_span_ids(wanted) == {T1: {"a" * 16, "b" * 16}, T2: {"c" * 16}}
    # The default (one trace read each), as a store without its own bulk read has it.
    assert Store.stored_span_ids(store, wanted) == store.stored_span_ids(wanted)
    assert store.stored_span_ids([]) == {}
    many = [format(n, "032x") for n in range(1, 1200)] + [T2]
    assert store.stored_span_ids(many) == {T2: {"c" * 16}}
