"""The exporter's two stages: the mapping thread hands batches to one writer thread.

The mapping thread (``RunExporter.export``) maps a batch while the writer thread runs the
previous batch's transaction; batches mapped while the writer is busy wait and share its next
transaction. Prediction rows of committed batches are appended by the mapping thread between
batches (or by the writer thread once idle).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from spanrun.core import internal_errors
from spanrun.core.entities import RunStatus
from spanrun.core.text import storable_text
from spanrun.exporters._batch_plan import PendingWrite, StoreWrite, plan_writes
from spanrun.exporters._drops import Drops
from spanrun.exporters._pending_rows import BatchWrites
from spanrun.exporters._prediction_files import PredictionFiles
from spanrun.exporters._retry import RetryPolicy
from spanrun.exporters._writer import Writer
from spanrun.store.base import RunWriter

__all__ = ["MAX_PENDING_SPANS", "WritePipeline"]

_log = logging.getLogger("spanrun.exporters._run_exporter")  # the logger users already filter
MAX_PENDING_SPANS = 2048  # mapped spans that may wait for the writer (4 default batches)


class WritePipeline:
    """Mapped batches -> one store transaction at a time on a writer thread -> CSV rows.

    ``lock`` is the exporter's: :meth:`queue`, :meth:`submit_pending`, :meth:`flush` and
    :meth:`drain` are called with it held; the idle writer thread takes it (without waiting)
    to write what no later export took along.
    """

    def __init__(
        self,
        lock: threading.RLock,
        retry: RetryPolicy,
        drops: Drops,
        files: PredictionFiles,
    ) -> None:
        self.lock = lock
        self._retry = retry
        self._drops = drops
        self._files = files
        self.writer = self._new_writer()
        self.pending: PendingWrite | None = None  # mapped, waiting for the writer
        # Runs whose LLM calls a given-up write lost: their ledgers counted calls the store
        # does not hold (see take_lost_runs).
        self._lost_runs: set[str] = set()
        self._lost_lock = threading.Lock()

    def after_fork_in_child(self, lock: threading.RLock) -> None:
        self.lock = lock
        self.writer = self._new_writer()  # the parent's in-flight batch is the parent's
        self.pending = None
        self._lost_lock = threading.Lock()

    def take_lost_runs(self) -> set[str]:
        """The runs whose calls a given-up write lost since the last call (then forgotten):
        their running totals and call index must be read from the store again, or a batch
        sent again (an OTLP sender retrying) would be counted on top of the lost one."""
        with self._lost_lock:
            lost, self._lost_runs = self._lost_runs, set()
        return lost

    def _new_writer(self) -> Writer:
        ref = weakref.WeakMethod(self._append_when_idle)  # the thread must not keep self alive

        def idle() -> bool:
            method = ref()
            return method() if method is not None else False

        return Writer(idle)

    def queue(self, batch: PendingWrite) -> None:
        """Hand a mapped batch to the writer thread, or keep it for the next transaction.

        While the writer is busy, batches wait here and are then written together (up to
        ``MAX_PENDING_SPANS`` spans; beyond that this waits for the writer): when writing is
        the slower stage, transactions grow, and each costs less per span (fewer commits, GIL
        re-takes and index pages).
        """
        pending = self.pending
        if pending is not None and pending.store is not batch.store:
            self.submit_pending()  # another store (the tracking URI changed): in order
            pending = None
        if pending is None:
            self.pending = pending = batch
        else:
            pending.absorb(batch)
        if not self.writer.busy or len(pending.records) >= MAX_PENDING_SPANS:
            self.submit_pending()

    def submit_pending(self) -> None:
        """Prepare the waiting batches' rows and give them to the writer (waits while it is
        busy)."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        # Rows built and checked here too: the writer thread is left with the SQL.
        plan = plan_writes(pending.store, pending.writes, pending.records, self._drops)
        self.writer.submit(
            functools.partial(
                self._write_stage,
                pending.store,
                pending.writes,
                plan,
                len(pending.records),
                pending.ended_trace_runs,
                pending.store_down,
                pending.written,
            )
        )

    def flush(self, deadline: float) -> bool:
        """Write everything mapped so far, rows included; False when ``deadline``
        (``time.monotonic()``) passed first."""
        if self.pending is not None and not self.writer.wait(max(0.0, deadline - time.monotonic())):
            return False
        self.submit_pending()
        if not self.writer.wait(max(0.0, deadline - time.monotonic())):
            return False
        self._files.append_ready()
        return True

    def drain(self) -> None:
        """Write everything mapped so far, waiting as long as it takes, with a fresh start for
        this thread's store state (exit, disable)."""
        self.submit_pending()
        self.writer.wait()
        self._retry.store_down = False
        self._files.append_ready()

    def _write_stage(
        self,
        store: RunWriter,
        writes: BatchWrites,
        plan: list[StoreWrite],
        span_count: int,
        ended_trace_runs: list[tuple[str, ReadableSpan]],
        store_down: bool,
        written: list[tuple[Callable[[bool], None], bool]],
    ) -> None:
        """On the writer thread: the batch's store writes, then the trace runs it ended; the
        ``written`` callbacks are called after the batch's prediction rows are appended."""
        # A store that went down while mapping fails the rest of the batch fast, as before.
        self._retry.store_down = store_down
        committed = False
        try:
            committed = self._write_batch(writes, plan)
        except Exception:
            self._drops.count(spans=span_count)
            internal_errors.report_in_background(
                "writing a batch of spans (dropped; later batches are written)", logger=_log
            )
        for run_id, root in ended_trace_runs:
            failed = root.status.status_code is StatusCode.ERROR
            self._retry.run(
                "end the trace run",
                functools.partial(
                    store.update_run_info,
                    run_id,
                    status=(RunStatus.FAILED if failed else RunStatus.FINISHED).value,
                    end_time=(root.end_time or 0) // 1_000_000,
                    run_name=storable_text(root.name),
                ),
            )
        if written:
            # Told once the batch's prediction rows are appended too (PredictionFiles).
            self._files.ready.append(functools.partial(_tell, written, committed))

    def _write_batch(self, writes: BatchWrites, plan: list[StoreWrite]) -> bool:
        """Each store's prepared transaction; the committed runs' prediction rows are queued
        for ``PredictionFiles.append_ready``. False when a transaction was given up (runs the
        store skipped, deleted meanwhile, do not count: what it took is committed)."""
        ok = True
        lost: set[str] = set()  # runs whose metrics were not written: their rows are not either
        for write in plan:
            runs = write.runs
            what = f"store {write.span_count} spans and the LLM calls of {len(runs)} runs"
            done, skipped = self._retry.run(what, write.job)
            if not done:
                ok = False
                lost.update(runs)
                with self._lost_lock:
                    self._lost_runs.update(runs)
                self._drops.count(spans=write.span_count)
                continue
            for run_id, reason in (skipped or {}).items():
                self._drops.warn_once(
                    f"skipped {run_id}", f"spanrun: cannot log LLM calls: {reason}"
                )
                lost.add(run_id)
        ready = self._files.ready
        for ledger, w in writes.values():
            if ledger.run_id in lost:
                self._drops.count(calls=max(w.calls, len(w.rows)))
            elif w.rows:
                ready.append((ledger, w.rows, w.encoded))
        return ok

    def _append_when_idle(self) -> bool:
        """The writer thread, idle: take the batches waiting for it and append committed rows
        no later export has taken along. True: try again later (an export holds the lock; it
        does both itself after its batch, unless it was past that point)."""
        if not self._files.ready and self.pending is None:
            return False
        lock = self.lock
        if not lock.acquire(blocking=False):
            return True
        try:
            if self.pending is not None and not self.writer.busy:
                self.submit_pending()  # this thread runs it next
            self._files.append_ready()
        finally:
            lock.release()
        return False


def _tell(written: list[tuple[Callable[[bool], None], bool]], committed: bool) -> None:
    for callback, mapped_without_store in written:
        try:
            callback(committed and not mapped_without_store)
        except Exception:
            _log.warning("spanrun: an export's written callback failed", exc_info=True)
