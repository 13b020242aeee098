"""``RunExporter``: an OpenTelemetry ``SpanExporter`` that turns GenAI spans into runs.

The exporter's parts, each in its own module: ``_sdk_fast`` (reading SDK spans), ``_runs``
(which run a span belongs to), ``_run_ledger`` (per-run LLM accounting), ``_pending_rows``
(rows waiting for their root span), ``_batch_plan`` (merged batches, one prepared write per
store), ``_write_pipeline`` and ``_writer`` (the writer thread), ``_prediction_files`` (CSV
appends), ``_retry`` and ``_drops`` (failures). This module maps each batch.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from spanrun.artifacts.predictions import encode_prediction_rows
from spanrun.core import internal_errors
from spanrun.core.current import lookups
from spanrun.core.entities import RunStatus, SpanRecord
from spanrun.core.fork import on_fork
from spanrun.errors import InvalidInputError
from spanrun.exporters._batch_plan import PendingWrite
from spanrun.exporters._convert import fields_to_record, hex_span_id, hex_trace_id
from spanrun.exporters._drops import Drops
from spanrun.exporters._llm_call_reader import read_llm_call
from spanrun.exporters._pending_rows import BatchWrites, PendingRows
from spanrun.exporters._prediction_files import PredictionFiles
from spanrun.exporters._prices import PricesArg, PriceTable
from spanrun.exporters._retry import RetryPolicy
from spanrun.exporters._run_ledger import InnermostTracker, RunLedger, RunWrites
from spanrun.exporters._runs import (
    RUN_MODE_NAMES,
    UNKNOWN,
    RunResolver,
    SpanSource,
    current_experiment_id,
    program_name,
)
from spanrun.exporters._sdk_fast import read_span
from spanrun.exporters._stamping import JUDGE_ATTRIBUTE
from spanrun.exporters._write_pipeline import WritePipeline
from spanrun.store.base import RunWriter

__all__ = ["RUN_MODES", "RunExporter", "RunMode", "program_name"]

_log = logging.getLogger(__name__)

RunMode = Literal["session", "trace", "none"]
RUN_MODES: tuple[str, ...] = RUN_MODE_NAMES
# The mapping loop hands the GIL over this often: a user thread whose HTTP read just returned,
# or the writer thread back from an SQLite step, would otherwise wait up to the 5 ms switch
# interval behind it. sleep(0) (~80 us: timer slack) gives the waiting thread time to take the
# GIL; os.sched_yield() returns before it wakes up, and restarts its wait. Every 0.5 ms of
# mapping (checked every 8 spans) rather than every 8 spans: the writer thread, left with a
# dozen SQL steps per transaction, waits little, and the sleeps cost the mapping ~15% instead
# of ~30%. Measured with the exporter saturated and a user thread waking every 2 ms: its median
# wake-up delay 0.5 ms (every 8 spans: 0.25 ms, every 1 ms: 0.6-0.8 ms) at 20-23k spans/s
# (every 8 spans: 15-16k).
_YIELD_EVERY_S = 0.0005


def _default_store() -> RunWriter:
    # On a SQLite file, a store that writes without SQLAlchemy: autolog keeps the user's
    # process ~14 MB lighter (issue 3); other URIs get the usual store.
    store: RunWriter = lookups.export_store()
    return store


class RunExporter(SpanExporter):
    """Writes finished spans into the tracking store as traces, and LLM calls into runs.

    Which run a span belongs to:

    1. the run stamped on it at start (``spanrun.run_id``, set by ``RunStampingProcessor`` from
       the active run or the parent span) or already known for its trace;
    2. otherwise, by ``run_mode``: ``"session"`` - one run per process, created on the first such
       span and named after the program (ended FINISHED by :meth:`finish_open_runs`);
       ``"trace"`` - one run per root trace, named after the root span and ended (FINISHED, or
       FAILED when the root span failed) when the root span arrives; ``"none"`` - no run, the
       trace alone is stored.

    For each LLM call (a span with a GenAI operation, see ``_llm_call_reader``; when an LLM span
    wraps another one only the innermost counts) the run gets metrics whose step is the
    call's index in the run, running totals, ``llm.*`` params from the first call (a later
    different value sets the tag ``spanrun.llm.params_varied=true``), and a row in
    ``llm_predictions.csv`` (not for an LLM judge's calls, marked with ``JUDGE_ATTRIBUTE``).
    Every span is stored with ``Store.log_spans``.

    A row's ``inputs`` is the user-side input: the ``input.value`` of the trace's root span (a
    chain's input) when the call is part of a larger trace, else the call's last user message.
    Such rows are written when the root span arrives (at the latest after 30 s, or at exit).

    Writes are grouped per export batch: one ``Store.log_export_batch`` (one transaction on the
    SQL store: all runs' metrics, params and tags, the spans and their traces), then one CSV
    append per run. A writer thread runs the transaction while the next batch is mapped;
    batches mapped while it is busy share its next transaction (at most 2,048 spans wait).
    Store failures are retried ``max_attempts`` times with backoff, then the write is dropped
    with a warning (counted in ``dropped_spans`` / ``dropped_calls``); a run the store no
    longer accepts (deleted meanwhile) loses its calls, the rest is written.
    :meth:`export` never raises.

    Args:
        store: the store to write to, or a callable returning it (default: the store of the
            current tracking URI, resolved at each export so ``set_tracking_uri`` is honoured).
        run_mode: ``"session"`` (default), ``"trace"`` or ``"none"``.
        prices: a :class:`PriceTable`, a dict ``{model: {"input": usd_per_1M, "output": ...}}`` or
            a JSON/YAML file path; calls to unpriced models get no cost.
        max_attempts: tries per store write before dropping it.
        retry_delay_s: first backoff delay (doubled per retry).
        span_source: names the session run of un-stamped spans and chooses the experiment of
            the runs (and run-less traces) made for them (see ``SpanSource``); by default one
            session run per process, named after the program, in the current experiment.
        yield_every_s: while mapping a batch, hand the GIL to other threads this often (the
            user's program: see ``_YIELD_EVERY_S``); None: never (a server's ingest thread,
            whose only other threads are its writer and its event loop).
    """

    def __init__(
        self,
        store: RunWriter | Callable[[], RunWriter] | None = None,
        *,
        run_mode: RunMode = "session",
        prices: PriceTable | PricesArg = None,
        max_attempts: int = 4,
        retry_delay_s: float = 0.1,
        span_source: SpanSource | None = None,
        yield_every_s: float | None = _YIELD_EVERY_S,
    ) -> None:
        if run_mode not in RUN_MODES:
            raise InvalidInputError(f"run_mode must be one of {RUN_MODES}, got {run_mode!r}")
        if store is None:
            self._get_store: Callable[[], RunWriter] = _default_store
        elif isinstance(store, RunWriter):
            self._get_store = lambda: store
        else:
            self._get_store = store
        self.prices = prices if isinstance(prices, PriceTable) else PriceTable.load(prices)
        self._yield_every_s = yield_every_s
        self._lock = threading.RLock()  # mapping; overlaps with the previous batch's write
        self._shutdown = False
        self._drops = Drops()
        self._retry = RetryPolicy(max_attempts, retry_delay_s, self._drops.warn_once)
        self._runs = RunResolver(run_mode, self._retry, self._drops, span_source)
        self._innermost = InnermostTracker()
        self._pending_rows = PendingRows()
        self._files = PredictionFiles(self._retry, self._drops)
        self._pipeline = WritePipeline(self._lock, self._retry, self._drops, self._files)
        on_fork(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # The parent's export thread may have held the lock at fork time; the child's runs
        # are its own (the session run is per process, trace runs stay the parent's to end).
        self._lock = threading.RLock()
        self._drops.after_fork_in_child()
        self._retry.after_fork_in_child()
        self._files.after_fork_in_child()  # the parent's committed rows are the parent's
        self._pipeline.after_fork_in_child(self._lock)
        self._runs.after_fork_in_child()
        self._pending_rows.clear()

    # -- settings and counters -------------------------------------------------------------------
    @property
    def run_mode(self) -> RunMode:
        """``"session"``, ``"trace"`` or ``"none"`` (may be changed between exports)."""
        return self._runs.run_mode  # type: ignore[return-value]

    @run_mode.setter
    def run_mode(self, value: RunMode) -> None:
        self._runs.run_mode = value

    def current_store(self) -> RunWriter:
        """The store the next batch goes to (resolved now: the tracking URI may change)."""
        return self._get_store()

    @property
    def max_attempts(self) -> int:
        """Tries per store write before it is dropped."""
        return self._retry.max_attempts

    @max_attempts.setter
    def max_attempts(self, value: int) -> None:
        self._retry.max_attempts = value

    @property
    def retry_delay_s(self) -> float:
        """The first backoff delay (doubled per retry)."""
        return self._retry.delay_s

    @retry_delay_s.setter
    def retry_delay_s(self, value: float) -> None:
        self._retry.delay_s = value

    @property
    def dropped_spans(self) -> int:
        """Spans whose store write was given up after retries (see the log for why)."""
        return self._drops.spans

    @property
    def refused_spans(self) -> int:
        """Of :attr:`dropped_spans`, those dropped for what they hold (refused by the store as
        bad input, or not mappable) rather than because the store failed."""
        return self._drops.refused

    @property
    def dropped_calls(self) -> int:
        """LLM calls whose run writes (metrics/params/rows) were given up."""
        return self._drops.calls

    # -- SpanExporter ------------------------------------------------------------------------
    def export(
        self,
        spans: Sequence[ReadableSpan],
        on_written: Callable[[bool], None] | None = None,
    ) -> SpanExportResult:
        """Map ``spans`` and queue their store writes (see the class doc).

        ``on_written``, when given, is called once the batch's transaction is over and its
        prediction rows are appended (on the thread appending them: a later export's, or the
        idle writer's; here when the batch was not taken): True when the spans and their LLM
        calls are committed, False when they were given up (the store failed), so that a
        receiver acknowledges only what is stored (``spanrun server``'s OTLP ingest).
        """
        written = [] if on_written is None else [on_written]
        if self._shutdown:
            self._tell(written, False)
            return SpanExportResult.FAILURE
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            with self._lock:
                ok = self._export(spans, written)
            return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE
        except Exception:
            self._drops.count(spans=len(spans))
            # A bug of ours (store failures are handled inside): the one policy for those.
            internal_errors.report(f"exporting spans ({len(spans)} dropped)", logger=_log)
            self._tell(written, False)  # not handed to the writer (else the list was emptied)
            return SpanExportResult.FAILURE
        finally:
            detach(token)

    @staticmethod
    def _tell(written: list[Callable[[bool], None]], ok: bool) -> None:
        for callback in written:
            try:
                callback(ok)
            except Exception:
                _log.warning("spanrun: an export's written callback failed", exc_info=True)
        written.clear()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until the batches given to :meth:`export` are written; False on timeout."""
        deadline = time.monotonic() + timeout_millis / 1000
        if not self._lock.acquire(timeout=max(0.0, timeout_millis / 1000)):
            return False  # an export is still mapping its batch
        try:
            flushed = self._pipeline.flush(deadline)
        finally:
            self._lock.release()
        internal_errors.raise_deferred()  # a bug met on the writer thread, in spanrun's tests
        return flushed

    def shutdown(self) -> None:
        """Write what is queued and end the runs this exporter opened (its session run, trace
        runs whose root never came): the SDK calls this when its provider shuts down (at exit),
        so a session run does not stay RUNNING on any span processor."""
        self._shutdown = True
        self.force_flush()
        self.finish_open_runs()

    # -- run lifecycle -------------------------------------------------------------------------
    def finish_open_runs(self) -> None:
        """End the session run and any trace run whose root never arrived (FINISHED).

        Prediction rows still waiting for their trace's root span are written too.
        """
        with self._lock:
            self._pipeline.drain()
            to_end = self._runs.take_runs_to_end()
            writes: BatchWrites = {}
            self._pending_rows.release_all(writes)
            for ledger, run_writes in writes.values():
                self._files.write(ledger, run_writes.rows)
            now = int(time.time() * 1000)
            for run_id, store in to_end:
                self._retry.run(
                    "end the run",
                    functools.partial(
                        store.update_run_info, run_id, status=RunStatus.FINISHED.value, end_time=now
                    ),
                )

    @property
    def session_run_id(self) -> str | None:
        """The run this process's un-run spans go to in "session" mode, for the current store
        (None until created)."""
        try:
            return self._runs.session_run_id(self._get_store())
        except Exception:
            return None

    @property
    def source_session_run_ids(self) -> dict[tuple[str, str], str]:
        """The session runs made for a ``span_source``: (name, experiment_id) -> run_id."""
        with self._lock:
            return self._runs.session_runs()

    # -- mapping -------------------------------------------------------------------------------
    def _forget_runs(self) -> None:
        """Forget every run known so far: the next spans make new session and trace runs."""
        self._runs.forget()
        self._pending_rows.clear()
        self._files.forget_repositories()

    def _export(
        self, spans: Sequence[ReadableSpan], written: list[Callable[[bool], None]] | None = None
    ) -> bool:
        """Map the batch here, then hand its store writes to the writer thread (with the
        ``written`` callbacks, emptied once handed over).

        Returns False when mapping already met a store failure; write failures are counted in
        ``dropped_spans`` / ``dropped_calls`` and logged by the writer.
        """
        retry, runs, pending_rows = self._retry, self._runs, self._pending_rows
        retry.store_down = False
        for lost_run_id in self._pipeline.take_lost_runs():
            runs.ledgers.pop(lost_run_id, None)  # re-read: the store lacks calls the ledger counted
        store = self._get_store()
        if store.reopen_if_replaced():
            self._forget_runs()  # they were in the deleted file
        root_names = (
            {hex_trace_id(s.context.trace_id): s.name for s in spans if s.parent is None}
            if runs.run_mode == "trace"
            else {}
        )
        records: list[SpanRecord] = []
        writes: BatchWrites = {}
        ended_trace_runs: list[tuple[str, ReadableSpan]] = []
        no_run_experiment: str | None = None
        prices = self.prices if self.prices else None
        # Bound once per batch: this loop runs per span (thousands per batch), so plain locals
        # and few calls on purpose.
        run_for, ledger_of, open_trace_runs = runs.run_for, runs.ledger, runs.open_trace_runs
        wraps_llm, waiting, park = (
            self._innermost.wraps_llm,
            pending_rows.by_trace,
            pending_rows.park,
        )
        error = StatusCode.ERROR
        perf_counter = time.perf_counter
        yield_every = self._yield_every_s
        next_yield = 0.0 if yield_every is not None else float("inf")
        for index, span in enumerate(spans):
            if not index & 7 and perf_counter() >= next_yield:
                time.sleep(0)  # hand the GIL over (see _YIELD_EVERY_S)
                next_yield = perf_counter() + yield_every  # type: ignore[operator]
            try:
                fields = read_span(span)  # every field read below, in one call
                context, parent, _, _, start, end, status_code, description, _, events, attrs = (
                    fields
                )
                trace_id = hex_trace_id(context.trace_id)
                span_id = hex_span_id(context.span_id)
                parent_id = hex_span_id(parent.span_id) if parent is not None else None
                ids = run_for(store, span, attrs, trace_id, root_names)
                run_id, experiment_id = ids if ids is not None else (None, None)

                call = read_llm_call(
                    attrs, events, (description or "") if status_code is error else None
                )
                below_llm = wraps_llm(trace_id, span_id, parent_id, call is not None)
                ledger = ledger_of(store, run_id) if run_id is not None else None
                if ledger is UNKNOWN and runs.source is not None:
                    # A server receiving spans: the sender's own run is not in this store, so
                    # they go where unstamped spans go (see RunResolver.run_for).
                    ids = runs.run_by_mode(store, span, attrs, trace_id, root_names)
                    run_id, experiment_id = ids if ids is not None else (None, None)
                    ledger = ledger_of(store, run_id) if run_id is not None else None
                if ledger is UNKNOWN:
                    run_id = experiment_id = None  # keep the trace, unlinked
                    ledger = None
                elif ledger is not None:
                    experiment_id = ledger.experiment_id  # the store's, not the stamp's text
                if not experiment_id:
                    # Traces without a run still belong to an experiment (their source's, else
                    # the current one), so they can be found like MLflow's.
                    if runs.source is not None:
                        experiment_id = runs.experiment_without_run(span, attrs)
                    else:
                        experiment_id = no_run_experiment or current_experiment_id()
                        no_run_experiment = experiment_id
                records.append(
                    fields_to_record(fields, (trace_id, span_id, parent_id), run_id, experiment_id)
                )

                if call is not None and not below_llm and run_id is not None:
                    if not isinstance(ledger, RunLedger):
                        self._drops.count(calls=1)  # the store failed before the run was read
                    else:
                        start, end = start or 0, end or start or 0
                        run_writes = writes.get(ledger.run_id)
                        if run_writes is None:
                            run_writes = writes[ledger.run_id] = (ledger, RunWrites())
                        row = ledger.record(
                            call,
                            run_writes[1],
                            end_ms=end // 1_000_000,
                            latency_ms=(end - start) / 1e6,
                            cost=prices.cost(call.model, call.input_tokens, call.output_tokens)
                            if prices is not None
                            else None,
                            trace_id=trace_id,
                            span_id=span_id,
                        )
                        if JUDGE_ATTRIBUTE in attrs:
                            pass  # an LLM judge's call: metrics and trace, no prediction row
                        elif parent_id is None:
                            run_writes[1].rows.append(row)
                        else:
                            park(trace_id, ledger, row, writes)
                if parent_id is None:
                    if waiting:
                        pending_rows.release(trace_id, attrs if call is None else None, writes)
                    if run_id is not None and run_id in open_trace_runs:
                        ended_trace_runs.append((run_id, span))
            except Exception as exc:  # one odd span costs only itself
                self._drops.span_failed(exc)

        pending_rows.release_stale(writes)
        for _, done in writes.values():
            if done.rows:
                # CSV-encoded here, while the writer thread is inside SQLite without the GIL;
                # appended once the batch's transaction committed (PredictionFiles.append_ready).
                done.encoded = encode_prediction_rows(done.rows)
        for run_id, _ in ended_trace_runs:
            open_trace_runs.pop(run_id, None)
        store_down = retry.store_down
        batch = PendingWrite(store, writes, records, ended_trace_runs, store_down)
        if written:
            batch.written = [(callback, store_down) for callback in written]
        self._pipeline.queue(batch)
        if written:
            written.clear()  # handed over: the writer calls them
        # Batches committed meanwhile: their prediction rows are appended here, while the
        # writer runs the next transaction (see PredictionFiles.append_ready).
        self._files.append_ready()
        return not store_down
