"""Mapped batches waiting for the writer, merged, and planned as one prepared write per store.

Preparing (building and checking the SQL rows) runs on the mapping thread: the writer thread is
left with the SQL. When a store refuses a batch as bad input, only the runs' writes and spans
it refuses on their own are left out (a bisection over the spans).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from spanrun.core.entities import SpanRecord
from spanrun.errors import InvalidInputError
from spanrun.exporters._drops import Drops
from spanrun.exporters._pending_rows import BatchWrites
from spanrun.store.base import RunBatch, RunWriter

__all__ = ["PendingWrite", "StoreWrite", "plan_writes", "refusal", "storable_spans"]


@dataclass
class StoreWrite:
    """One store's part of a batch, prepared on the mapping thread."""

    runs: dict[str, RunBatch]
    span_count: int
    job: Callable[[], dict[str, str]]  # the transaction (called again to retry)


@dataclass
class PendingWrite:
    """Mapped batches waiting for the writer thread, merged into one transaction."""

    store: RunWriter
    writes: BatchWrites
    records: list[SpanRecord]
    ended_trace_runs: list[tuple[str, ReadableSpan]]
    store_down: bool  # the latest batch's: whether the store failed while it was mapped
    #: per merged batch: the callback told whether it was written, and whether the store
    #: failed while that batch was mapped (then it is told False: its LLM calls were lost)
    written: list[tuple[Callable[[bool], None], bool]] = field(default_factory=list)

    def absorb(self, later: PendingWrite) -> None:
        """Add a later batch (same store) to this one; its runs' writes are merged."""
        for run_id, (ledger, writes) in later.writes.items():
            mine = self.writes.get(run_id)
            if mine is None:
                self.writes[run_id] = (ledger, writes)
            else:
                mine[1].absorb(writes)
        self.records += later.records
        self.ended_trace_runs += later.ended_trace_runs
        self.store_down = later.store_down
        self.written += later.written


def plan_writes(
    store: RunWriter, writes: BatchWrites, records: list[SpanRecord], drops: Drops
) -> list[StoreWrite]:
    """One prepared store write per store: all its runs' writes, and (on ``store``) the spans.

    A run lives in the store its ledger was read from (the tracking URI may have changed).
    """
    per_store: dict[RunWriter, dict[str, RunBatch]] = {}
    if records:
        per_store[store] = {}
    for ledger, w in writes.values():
        if w.metrics or w.params or w.tags or w.call_rows:
            runs = per_store.setdefault(ledger.store or store, {})
            runs[ledger.run_id] = (w.metrics, w.params, w.tags, w.call_rows)
    plan = []
    for target, runs in per_store.items():
        spans = records if target is store else []
        try:
            job = target.prepare_export_batch(runs, spans)
        except InvalidInputError:
            job = _plan_without_bad_input(target, runs, spans, drops)
        except Exception:
            # Not the input: the writer runs the one-step write, which reports it as usual.
            job = functools.partial(target.log_export_batch, runs, spans)
        plan.append(StoreWrite(runs, len(spans), job))
    return plan


def _plan_without_bad_input(
    target: RunWriter, runs: dict[str, RunBatch], spans: list[SpanRecord], drops: Drops
) -> Callable[[], dict[str, str]]:
    """The store refused the batch as a whole: leave out only the runs' writes and the spans
    it refuses on their own, so one odd span never costs its neighbours (rare; preparing is
    pure Python, a bisection finds k bad spans in about k*log2(n) tries)."""
    bad_runs: dict[str, str] = {}
    good_runs: dict[str, RunBatch] = {}
    for run_id, batch in runs.items():
        reason = refusal(target, {run_id: batch}, [])
        if reason is None:
            good_runs[run_id] = batch
        else:
            bad_runs[run_id] = reason
    good_spans = storable_spans(target, spans, drops)
    try:
        job = target.prepare_export_batch(good_runs, good_spans)
    except Exception:
        # Refused even so: the one-step write reports it as usual.
        job = functools.partial(target.log_export_batch, good_runs, good_spans)
    if not bad_runs:
        return job

    def job_and_refused_runs() -> dict[str, str]:
        return {**(job() or {}), **bad_runs}  # refused runs count as skipped: rows too

    return job_and_refused_runs


def storable_spans(target: RunWriter, spans: list[SpanRecord], drops: Drops) -> list[SpanRecord]:
    """The spans ``target`` takes; each one it refuses alone is dropped (counted, warned)."""
    if not spans:
        return spans
    reason = refusal(target, {}, spans)
    if reason is None:
        return spans
    if len(spans) == 1:
        drops.count(spans=1, refused=True)
        drops.warn_once(
            f"refused span: {reason[:80]}",
            f"spanrun: dropped span {spans[0].name!r}: {reason}; the other spans are kept",
        )
        return []
    half = len(spans) // 2
    return storable_spans(target, spans[:half], drops) + storable_spans(target, spans[half:], drops)


def refusal(store: RunWriter, runs: dict[str, RunBatch], spans: list[SpanRecord]) -> str | None:
    """Why ``store`` refuses these writes as bad input, or None when it takes them (or fails
    for another reason, which the write itself then reports)."""
    try:
        store.prepare_export_batch(runs, spans)
    except InvalidInputError as exc:
        return str(exc)
    except Exception:
        return None
    return None
