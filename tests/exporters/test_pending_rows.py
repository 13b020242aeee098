"""Rows held for their trace's root span (``_pending_rows.PendingRows``)."""

from __future__ import annotations

from spanrun.core.vocabulary import INPUTS_INDEX
from spanrun.exporters._pending_rows import BatchWrites, PendingRows, add_rows
from spanrun.exporters._run_ledger import RunLedger, RunWrites

A, B = RunLedger("a", "0", "uri-a"), RunLedger("b", "0", "uri-b")


def _row(text: str) -> list[str]:
    row = [""] * 12
    row[INPUTS_INDEX] = text
    return row


def _inputs(writes: BatchWrites) -> dict[str, list[str]]:
    return {run_id: [r[INPUTS_INDEX] for r in w.rows] for run_id, (_, w) in writes.items()}


def test_the_roots_input_becomes_the_rows_input() -> None:
    pending = PendingRows()
    writes: BatchWrites = {}
    pending.park("t1", A, _row("own 1"), writes)
    pending.park("t1", B, _row("own 2"), writes)
    pending.park("t2", A, _row("own 3"), writes)
    assert writes == {} and pending.by_trace
    pending.release("t1", {"input.value": "chain input"}, writes)
    assert _inputs(writes) == {"a": ["chain input"], "b": ["chain input"]}
    pending.release("t2", {"input.value": {"q": 1}}, writes)  # not text: as JSON
    assert _inputs(writes)["a"] == ["chain input", '{"q": 1}']
    assert not pending.by_trace


def test_a_root_without_input_keeps_the_calls_own_input() -> None:
    pending = PendingRows()
    writes: BatchWrites = {}
    pending.park("t1", A, _row("own"), writes)
    pending.release("t1", None, writes)  # the root is an LLM call itself
    pending.park("t2", A, _row("own 2"), writes)
    pending.release("t2", {"input.value": ""}, writes)
    pending.release("t3", {"input.value": "x"}, writes)  # nothing waits for t3
    assert _inputs(writes) == {"a": ["own", "own 2"]}


def test_bounds_release_rows_as_they_are() -> None:
    pending = PendingRows(max_traces=2, max_rows=2)
    writes: BatchWrites = {}
    pending.park("t1", A, _row("1"), writes)
    pending.park("t1", A, _row("2"), writes)  # max_rows reached: released
    assert _inputs(writes) == {"a": ["1", "2"]}
    pending.park("t2", A, _row("3"), writes)
    pending.park("t3", A, _row("4"), writes)  # a third trace: the oldest (t1, empty) goes
    pending.park("t4", B, _row("5"), writes)  # and then t2
    assert _inputs(writes) == {"a": ["1", "2", "3"]}
    assert list(pending.by_trace) == ["t3", "t4"]


def test_stale_and_all_rows_are_released_with_their_own_input() -> None:
    pending = PendingRows(max_age_s=0.0)
    writes: BatchWrites = {}
    pending.park("t1", A, _row("old"), writes)
    pending.release_stale(writes)
    assert _inputs(writes) == {"a": ["old"]}
    fresh = PendingRows(max_age_s=60.0)
    fresh.park("t2", B, _row("new"), writes)
    fresh.release_stale(writes)
    assert "b" not in writes
    fresh.release_all(writes)
    assert _inputs(writes) == {"a": ["old"], "b": ["new"]}
    assert not fresh.by_trace


def test_add_rows_appends_to_existing_writes() -> None:
    writes: BatchWrites = {"a": (A, RunWrites(rows=[_row("x")]))}
    add_rows(writes, [(A, _row("y")), (B, _row("z"))])
    assert _inputs(writes) == {"a": ["x", "y"], "b": ["z"]}
