"""``RunExporter``: an OpenTelemetry ``SpanExporter`` that turns GenAI spans into runs."""

from __future__ import annotations

import functools
import getpass
import json
import logging
import os
import re
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from spanrun.artifacts.predictions import append_prediction_rows, encode_prediction_rows
from spanrun.core.current import lookups
from spanrun.core.entities import RunStatus, RunTag, SpanRecord
from spanrun.core.fork import on_fork
from spanrun.core.process import PROCESS_TAG, current_process_tag
from spanrun.core.semconv import INPUT_VALUE, SPANRUN_EXPERIMENT_ID, SPANRUN_RUN_ID
from spanrun.core.text import storable_text
from spanrun.core.vocabulary import (
    AUTOLOG_PREDICTION_COLUMNS,
    INPUTS_INDEX,
    PREDICTIONS_FILE,
    RUN_MODE_TAG,
    RUN_NAME_TAG,
    SOURCE_NAME_TAG,
)
from spanrun.errors import InvalidInputError, NotFoundError, SpanrunError, StoreError
from spanrun.exporters._convert import (
    hex_span_id,
    hex_trace_id,
    span_attributes,
    span_to_record,
)
from spanrun.exporters._llm_tracking import (
    InnermostTracker,
    RunLedger,
    RunWrites,
)
from spanrun.exporters._mapping import read_llm_call
from spanrun.exporters._prices import PricesArg, PriceTable
from spanrun.store.base import DEFAULT_EXPERIMENT_ID, RunBatch, Store

__all__ = ["RUN_MODES", "RunExporter", "RunMode"]

_log = logging.getLogger(__name__)

RunMode = Literal["session", "trace", "none"]
RUN_MODES: tuple[str, ...] = ("session", "trace", "none")
_PENDING_MAX_TRACES = 10_000
_PENDING_MAX_ROWS = 1_000  # per trace
_PENDING_MAX_AGE_S = 30.0  # a root that stays open longer does not hold rows back
_YIELD_EVERY_S = 0.0005  # the mapping loop hands the GIL over this often (see _export)
_IDLE_AFTER_S = 0.02  # the idle writer takes waiting batches and rows itself after this
_MAX_PENDING_SPANS = 2048  # mapped spans that may wait for the writer (4 default batches)
_RUN_ID = re.compile(r"[0-9A-Za-z_\-]{1,32}")  # what the stores' run ids look like
T = TypeVar("T")


@dataclass
class _PendingRows:
    since: float
    rows: list[tuple[RunLedger, list[str]]] = field(default_factory=list)


@dataclass
class _StoreWrite:
    """One store's part of a batch, prepared on the mapping thread."""

    runs: dict[str, RunBatch]
    span_count: int
    job: Callable[[], dict[str, str]]  # the transaction (called again to retry)


@dataclass
class _PendingWrite:
    """Mapped batches waiting for the writer thread (see ``RunExporter._queue_write``)."""

    store: Store
    writes: dict[str, tuple[RunLedger, RunWrites]]
    records: list[SpanRecord]
    ended_trace_runs: list[tuple[str, ReadableSpan]]
    store_down: bool  # the latest batch's: whether the store failed while it was mapped

    def absorb(self, later: _PendingWrite) -> None:
        for run_id, (ledger, writes) in later.writes.items():
            mine = self.writes.get(run_id)
            if mine is None:
                self.writes[run_id] = (ledger, writes)
            else:
                mine[1].absorb(writes)
        self.records += later.records
        self.ended_trace_runs += later.ended_trace_runs
        self.store_down = later.store_down


class _ThreadState(threading.local):
    # Per thread: the mapping thread and the writer thread each give up on their own.
    store_down = False


class _Writer:
    """One background thread that runs write jobs in order, at most one at a time.

    ``submit`` waits while the previous job still runs, so one batch is written while the
    caller maps the next one: at most one batch is in flight and memory stays bounded. The
    thread starts on the first job (a forked child makes a new ``_Writer``). ``idle``, when
    given, is called on the thread once no job came for ``_IDLE_AFTER_S`` after one ended, and
    again after as long while it returns True.
    """

    def __init__(self, idle: Callable[[], bool] | None = None) -> None:
        self._cond = threading.Condition()
        self._job: Callable[[], object] | None = None
        self._thread: threading.Thread | None = None
        self._idle = idle
        self._idle_due = False

    def submit(self, job: Callable[[], object]) -> None:
        with self._cond:
            while self._job is not None:
                self._cond.wait()
            self._job = job
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="spanrun-store-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        """A job is in flight."""
        return self._job is not None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the job in flight (if any) is done; False when ``timeout_s`` ran out."""
        if self._thread is threading.current_thread():
            return True  # called from a job: waiting on itself would never end
        with self._cond:
            return self._cond.wait_for(lambda: self._job is None, timeout_s)

    def _work(self) -> None:
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            while True:
                with self._cond:
                    while self._job is None:
                        if not self._idle_due:
                            self._cond.wait()
                        elif not self._cond.wait(_IDLE_AFTER_S) and self._job is None:
                            break
                    job = self._job
                if job is None:
                    self._idle_due = self._run_idle()
                    continue
                try:
                    job()
                except Exception:
                    _log.warning(
                        "spanrun: writing spans failed (your program is fine)", exc_info=True
                    )
                finally:
                    with self._cond:
                        self._job = None
                        self._idle_due = self._idle is not None
                        self._cond.notify_all()
        finally:
            detach(token)

    def _run_idle(self) -> bool:
        try:
            return bool(self._idle and self._idle())
        except Exception:
            _log.warning("spanrun: writing spans failed (your program is fine)", exc_info=True)
            return False


class _Unknown:
    """Marks a run id the store does not know (stamped by another store's run, or deleted)."""


UNKNOWN = _Unknown()


def _current_experiment_id() -> str:
    """The experiment chosen with ``spanrun.set_experiment``, else the Default one (the
    tracking layer's answer, through ``spanrun.core.current``)."""
    try:
        return str(lookups.active_experiment_id())
    except Exception:
        _log.debug("spanrun: no current experiment, using Default", exc_info=True)
    return DEFAULT_EXPERIMENT_ID


def _default_store() -> Store:
    # On a SQLite file, a store that writes without SQLAlchemy: autolog keeps the user's
    # process ~14 MB lighter (issue 3); other URIs get the usual store.
    store: Store = lookups.export_store()
    return store


def program_name() -> str:
    """The session run's name: the program's file stem (``python train.py`` -> ``train``)."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    stem = Path(argv0).stem if argv0 not in ("", "-c", "-") else ""
    return stem or "python"


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

    For each LLM call (a span with a GenAI operation, see ``spanrun.exporters._mapping``; when an
    LLM span wraps another one only the innermost counts) the run gets metrics whose step is the
    call's index in the run, running totals, ``llm.*`` params from the first call (a later
    different value sets the tag ``spanrun.llm.params_varied=true``), and a row in
    ``llm_predictions.csv``. Every span is stored with ``Store.log_spans``.

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
    """

    def __init__(
        self,
        store: Store | Callable[[], Store] | None = None,
        *,
        run_mode: RunMode = "session",
        prices: PriceTable | PricesArg = None,
        max_attempts: int = 4,
        retry_delay_s: float = 0.1,
    ) -> None:
        if run_mode not in RUN_MODES:
            raise InvalidInputError(f"run_mode must be one of {RUN_MODES}, got {run_mode!r}")
        if store is None:
            self._get_store: Callable[[], Store] = _default_store
        elif isinstance(store, Store):
            self._get_store = lambda: store  # type: ignore[assignment,return-value]
        else:
            self._get_store = store
        self.run_mode = run_mode
        self.prices = prices if isinstance(prices, PriceTable) else PriceTable.load(prices)
        #: tries per store write before it is dropped, and the first backoff delay
        self.max_attempts = max(1, max_attempts)
        self.retry_delay_s = retry_delay_s
        self._lock = threading.RLock()
        self._shutdown = False
        self._ledgers: OrderedDict[str, RunLedger | _Unknown] = OrderedDict()
        # set when a store operation gave up; reset per batch; per thread (mapping, writer)
        self._state = _ThreadState()
        # Mapping (this thread, under _lock) overlaps with the previous batch's store write.
        self._writer = self._new_writer()
        self._pending: _PendingWrite | None = None  # mapped, waiting for the writer
        # (ledger, rows, CSV bytes) of committed batches, appended by the mapping thread
        self._ready_rows: deque[tuple[RunLedger, list[list[str]], bytes | None]] = deque()
        self._count_lock = threading.Lock()
        # Prediction rows of calls inside a larger trace wait for the trace's root span, whose
        # input.value (a chain's input) is the row's user-side input.
        self._pending_rows: OrderedDict[str, _PendingRows] = OrderedDict()
        self._trace_runs: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._innermost = InnermostTracker()
        # Session runs per store (the tracking URI may change) and process: store -> (pid,
        # run_id, experiment_id). Open trace runs: run_id -> (trace_id, store).
        self._sessions: dict[Store, tuple[int, str, str]] = {}
        self._open_trace_runs: dict[str, tuple[str, Store]] = {}
        self._repos: dict[str, Any] = {}
        self._warned: set[str] = set()
        #: spans whose store write was given up after retries (see the log for why)
        self.dropped_spans = 0
        #: LLM calls whose run writes (metrics/params/rows) were given up
        self.dropped_calls = 0
        on_fork(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # The parent's export thread may have held the lock at fork time; the child's runs
        # are its own (the session run is per process, trace runs stay the parent's to end).
        self._lock = threading.RLock()
        self._count_lock = threading.Lock()
        self._state = _ThreadState()
        self._writer = self._new_writer()  # the parent's in-flight batch is the parent's
        self._ready_rows = deque()  # and so are its committed rows
        self._pending = None
        self._open_trace_runs = {}
        self._pending_rows.clear()

    # -- SpanExporter ------------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            with self._lock:
                ok = self._export(spans)
            return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE
        except Exception:
            self._count_drops(spans=len(spans))
            _log.warning(
                "spanrun: could not export %d spans; they are dropped (your program is fine)",
                len(spans),
                exc_info=True,
            )
            return SpanExportResult.FAILURE
        finally:
            detach(token)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until the batches given to :meth:`export` are written; False on timeout."""
        deadline = time.monotonic() + timeout_millis / 1000
        if not self._lock.acquire(timeout=max(0.0, timeout_millis / 1000)):
            return False  # an export is still mapping its batch
        try:
            if self._pending is not None and not self._writer.wait(
                max(0.0, deadline - time.monotonic())
            ):
                return False
            self._submit_pending()
            if not self._writer.wait(max(0.0, deadline - time.monotonic())):
                return False
            self._append_ready_rows()
            return True
        finally:
            self._lock.release()

    def shutdown(self) -> None:
        self._shutdown = True
        self.force_flush()

    # -- run lifecycle -------------------------------------------------------------------------
    def finish_open_runs(self) -> None:
        """End the session run and any trace run whose root never arrived (FINISHED).

        Prediction rows still waiting for their trace's root span are written too.
        """
        with self._lock:
            self._submit_pending()
            self._writer.wait()
            self._state.store_down = False
            self._append_ready_rows()
            pid = os.getpid()
            to_end = [(run_id, store) for run_id, (_, store) in self._open_trace_runs.items()]
            to_end += [(s[1], store) for store, s in self._sessions.items() if s[0] == pid]
            self._open_trace_runs.clear()
            self._sessions.clear()
            self._write_pending_rows()
            now = int(time.time() * 1000)
            for run_id, store in to_end:
                self._retry(
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
            session = self._sessions.get(self._get_store())
        except Exception:
            return None
        return session[1] if session is not None and session[0] == os.getpid() else None

    # -- internals -----------------------------------------------------------------------------
    def _retry(
        self, what: str, fn: Callable[[], T], raise_not_found: bool = False
    ) -> tuple[bool, T | None]:
        """Run one store operation, retrying store failures with backoff.

        Returns (False, None) when it failed for good. Once an operation gave up because the
        store is down, the rest of the batch fails fast instead of retrying span by span.
        """
        state = self._state
        if state.store_down:
            return False, None
        delay = self.retry_delay_s
        for attempt in range(1, self.max_attempts + 1):
            try:
                return True, fn()
            except NotFoundError as exc:
                if raise_not_found:
                    raise
                self._warn_once(what, f"spanrun: cannot {what}: {exc}")
                return False, None
            except SpanrunError as exc:
                if not isinstance(exc, StoreError):
                    _log.warning("spanrun: cannot %s: %s", what, exc)
                    return False, None
                error: Exception = exc
            except Exception as exc:  # OSError from artifacts, driver errors...
                error = exc
            if attempt == self.max_attempts:
                state.store_down = True
                _log.warning(
                    "spanrun: gave up trying to %s after %d attempts (%s); this batch's data is "
                    "dropped, your program is unaffected",
                    what,
                    attempt,
                    error,
                )
                return False, None
            time.sleep(delay)
            delay *= 2
        return False, None  # pragma: no cover - loop always returns

    def _forget_runs(self) -> None:
        """Forget every run known so far: the next spans make new session and trace runs."""
        self._ledgers.clear()
        self._sessions.clear()
        self._trace_runs.clear()
        self._open_trace_runs.clear()
        self._pending_rows.clear()
        self._repos.clear()

    def _span_failed(self, span: ReadableSpan, exc: Exception) -> None:
        """A span that could not be mapped is dropped alone; the rest of its batch goes on."""
        self._count_drops(spans=1)
        _log.debug("spanrun: mapping a span failed", exc_info=exc)
        self._warn_once(
            f"span failed: {type(exc).__name__}",
            f"spanrun: dropped a span that could not be mapped ({type(exc).__name__}: {exc}); "
            "the other spans are kept, your program is fine",
        )

    def _count_drops(self, spans: int = 0, calls: int = 0) -> None:
        # Both the mapping and the writer thread count drops.
        with self._count_lock:
            self.dropped_spans += spans
            self.dropped_calls += calls

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned and len(self._warned) < 1000:
            self._warned.add(key)
            _log.warning(message)

    def _ledger(self, store: Store, run_id: str) -> RunLedger | _Unknown | None:
        """The run's ledger; UNKNOWN when the store has no such run; None when it failed."""
        if run_id in self._ledgers:
            self._ledgers.move_to_end(run_id)
            return self._ledgers[run_id]
        if not _RUN_ID.fullmatch(run_id):  # a stamp no store could have made: not asked for
            self._warn_once("bad run id", f"spanrun: spans name an invalid run id {run_id!r}")
            return UNKNOWN
        try:
            ok, run = self._retry(
                f"read run {run_id}", lambda: store.get_run(run_id), raise_not_found=True
            )
        except NotFoundError as exc:
            self._warn_once(run_id, f"spanrun: spans name run {run_id!r}, unknown here: {exc}")
            ledger: RunLedger | _Unknown = UNKNOWN
        else:
            if not ok:
                return None  # not cached: asked again once the store is back
            ledger = RunLedger.from_run(run, store)  # type: ignore[arg-type]
        self._ledgers[run_id] = ledger
        if len(self._ledgers) > 10_000:
            self._ledgers.popitem(last=False)
        return ledger

    def _create_run(
        self, store: Store, name: str, start_ms: int, mode: str, extra: Sequence[RunTag] = ()
    ) -> tuple[str, str] | None:
        experiment_id = _current_experiment_id()
        name = storable_text(name)  # a root span's name, from the user's program
        tags = [
            RunTag(RUN_NAME_TAG, name),
            RunTag(RUN_MODE_TAG, mode),
            RunTag(SOURCE_NAME_TAG, sys.argv[0] if sys.argv else ""),
            RunTag(PROCESS_TAG, current_process_tag()),  # ended as KILLED once it is gone
            *extra,
        ]
        ok, run = self._retry(
            f"create the {mode} run",
            lambda: store.create_run(experiment_id, _user(), start_ms, tags, name),
        )
        if not ok or run is None:
            return None
        self._ledgers[run.info.run_id] = RunLedger.from_run(run, store)
        return run.info.run_id, run.info.experiment_id

    def _run_for(
        self,
        store: Store,
        span: ReadableSpan,
        attrs: dict[str, Any],
        trace_id: str,
        root_names: dict[str, str],
    ) -> tuple[str, str] | None:
        run_id = attrs.get(SPANRUN_RUN_ID)
        if run_id:
            ids = (str(run_id), str(attrs.get(SPANRUN_EXPERIMENT_ID) or ""))
            self._remember_trace(trace_id, ids)
            return ids
        known = self._trace_runs.get(trace_id)
        if known is not None:
            return known
        start_ms = (span.start_time or 0) // 1_000_000
        if self.run_mode == "session":
            session = self._sessions.get(store)
            if session is None or session[0] != os.getpid():
                created = self._create_run(store, program_name(), start_ms, "session")
                if created is None:
                    return None
                self._sessions[store] = session = (os.getpid(), *created)
            return session[1], session[2]
        if self.run_mode == "trace":
            name = root_names.get(trace_id) or span.name
            created = self._create_run(
                store, name, start_ms, "trace", [RunTag("spanrun.trace_id", trace_id)]
            )
            if created is None:
                return None
            self._remember_trace(trace_id, created)
            self._open_trace_runs[created[0]] = (trace_id, store)
            return created
        return None

    def _remember_trace(self, trace_id: str, ids: tuple[str, str]) -> None:
        self._trace_runs[trace_id] = ids
        if len(self._trace_runs) > 10_000:
            self._trace_runs.popitem(last=False)

    def _export(self, spans: Sequence[ReadableSpan]) -> bool:
        """Map the batch here, then hand its store writes to the writer thread.

        Returns False when mapping already met a store failure; write failures are counted in
        ``dropped_spans`` / ``dropped_calls`` and logged by the writer.
        """
        self._state.store_down = False
        store = self._get_store()
        if store.reopen_if_replaced():
            self._forget_runs()  # they were in the deleted file
        root_names = (
            {hex_trace_id(s.context.trace_id): s.name for s in spans if s.parent is None}
            if self.run_mode == "trace"
            else {}
        )
        records: list[SpanRecord] = []
        writes: dict[str, tuple[RunLedger, RunWrites]] = {}
        ended_trace_runs: list[tuple[str, ReadableSpan]] = []
        no_run_experiment: str | None = None
        prices = self.prices if self.prices else None
        wraps_llm = self._innermost.wraps_llm
        error = StatusCode.ERROR
        perf_counter = time.perf_counter
        next_yield = 0.0
        # This loop runs per span (thousands per batch): plain locals and few calls on purpose.
        for index, span in enumerate(spans):
            if not index & 7 and perf_counter() >= next_yield:
                # Hand the GIL over now and then: a user thread whose HTTP read just returned,
                # or the writer thread back from an SQLite step, would otherwise wait up to the
                # 5 ms switch interval behind this loop. sleep(0) (~80 us: timer slack) gives
                # the waiting thread time to take the GIL; os.sched_yield() returns before it
                # wakes up, and restarts its wait. Every 0.5 ms of mapping (checked every 8
                # spans) rather than every 8 spans: the writer thread, left with a dozen SQL
                # steps per transaction, waits little, and the sleeps cost the mapping ~15%
                # instead of ~30%. Measured with the exporter saturated and a user thread
                # waking every 2 ms: its median wake-up delay 0.5 ms (every 8 spans: 0.25 ms,
                # every 1 ms: 0.6-0.8 ms) at 20-23k spans/s (every 8 spans: 15-16k).
                time.sleep(0)
                next_yield = perf_counter() + _YIELD_EVERY_S
            try:
                context, parent = span.context, span.parent
                trace_id = hex_trace_id(context.trace_id)
                span_id = hex_span_id(context.span_id)
                parent_id = hex_span_id(parent.span_id) if parent is not None else None
                attrs = span_attributes(span)  # a plain dict: fast lookups below
                ids = self._run_for(store, span, attrs, trace_id, root_names)
                run_id, experiment_id = ids if ids is not None else (None, None)

                span_status = span.status
                call = read_llm_call(
                    attrs,
                    # span.events copies the SDK's event list: skip that for the usual no events
                    span.events if getattr(span, "_events", True) else (),
                    (span_status.description or "") if span_status.status_code is error else None,
                )
                below_llm = wraps_llm(trace_id, span_id, parent_id, call is not None)
                ledger = self._ledger(store, run_id) if run_id is not None else None
                if ledger is UNKNOWN:
                    run_id = experiment_id = None  # keep the trace, unlinked
                    ledger = None
                elif ledger is not None:
                    experiment_id = ledger.experiment_id  # the store's, not the stamp's text
                if not experiment_id:
                    # Traces without a run still belong to an experiment (the current one), so
                    # they can be found like MLflow's.
                    experiment_id = no_run_experiment or _current_experiment_id()
                    no_run_experiment = experiment_id
                records.append(
                    span_to_record(
                        span, run_id, experiment_id, (trace_id, span_id, parent_id), attrs
                    )
                )

                if call is not None and not below_llm and run_id is not None:
                    if not isinstance(ledger, RunLedger):
                        self._count_drops(calls=1)  # the store failed before the run was read
                    else:
                        start, end = span.start_time or 0, span.end_time or span.start_time or 0
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
                        if parent_id is None:
                            run_writes[1].rows.append(row)
                        else:
                            self._park_row(trace_id, ledger, row, writes)
                if parent_id is None:
                    if self._pending_rows:
                        self._release_rows(trace_id, attrs if call is None else None, writes)
                    if run_id is not None and run_id in self._open_trace_runs:
                        ended_trace_runs.append((run_id, span))
            except Exception as exc:  # one odd span costs only itself
                self._span_failed(span, exc)

        self._release_stale_rows(writes)
        for _, done in writes.values():
            if done.rows:
                # CSV-encoded here, while the writer thread is inside SQLite without the GIL;
                # appended once the batch's transaction committed (_append_ready_rows).
                done.encoded = encode_prediction_rows(done.rows)
        for run_id, _ in ended_trace_runs:
            self._open_trace_runs.pop(run_id, None)
        store_down = self._state.store_down
        self._queue_write(_PendingWrite(store, writes, records, ended_trace_runs, store_down))
        # Batches committed meanwhile: their prediction rows are appended here, while the
        # writer runs the next transaction (see _append_ready_rows).
        self._append_ready_rows()
        return not store_down

    def _queue_write(self, batch: _PendingWrite) -> None:
        """Hand a mapped batch to the writer thread, or keep it for the next transaction.

        While the writer is busy, batches wait here and are then written together (up to
        ``_MAX_PENDING_SPANS`` spans; beyond that this waits for the writer): when writing is
        the slower stage, transactions grow, and each costs less per span (fewer commits, GIL
        re-takes and index pages). Called with ``_lock`` held.
        """
        pending = self._pending
        if pending is not None and pending.store is not batch.store:
            self._submit_pending()  # another store (the tracking URI changed): in order
            pending = None
        if pending is None:
            self._pending = pending = batch
        else:
            pending.absorb(batch)
        if not self._writer.busy or len(pending.records) >= _MAX_PENDING_SPANS:
            self._submit_pending()

    def _submit_pending(self) -> None:
        """Prepare the waiting batches' rows and give them to the writer (waits while it is
        busy). Called with ``_lock`` held."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        # Rows built and checked here too: the writer thread is left with the SQL.
        plan = self._plan_writes(pending.store, pending.writes, pending.records)
        self._writer.submit(
            functools.partial(
                self._write_stage,
                pending.store,
                pending.writes,
                plan,
                len(pending.records),
                pending.ended_trace_runs,
                pending.store_down,
            )
        )

    def _write_stage(
        self,
        store: Store,
        writes: dict[str, tuple[RunLedger, RunWrites]],
        plan: list[_StoreWrite],
        span_count: int,
        ended_trace_runs: list[tuple[str, ReadableSpan]],
        store_down: bool,
    ) -> None:
        """On the writer thread: the batch's store writes, then the trace runs it ended."""
        # A store that went down while mapping fails the rest of the batch fast, as before.
        self._state.store_down = store_down
        try:
            self._write_batch(writes, plan)
        except Exception:
            self._count_drops(spans=span_count)
            _log.warning(
                "spanrun: could not write %d spans; they are dropped (your program is fine)",
                span_count,
                exc_info=True,
            )
        for run_id, root in ended_trace_runs:
            failed = root.status.status_code is StatusCode.ERROR
            self._retry(
                "end the trace run",
                functools.partial(
                    store.update_run_info,
                    run_id,
                    status=(RunStatus.FAILED if failed else RunStatus.FINISHED).value,
                    end_time=(root.end_time or 0) // 1_000_000,
                    run_name=storable_text(root.name),
                ),
            )

    def _park_row(
        self,
        trace_id: str,
        ledger: RunLedger,
        row: list[str],
        writes: dict[str, tuple[RunLedger, RunWrites]],
    ) -> None:
        pending = self._pending_rows.get(trace_id)
        if pending is None:
            pending = self._pending_rows[trace_id] = _PendingRows(time.monotonic())
            if len(self._pending_rows) > _PENDING_MAX_TRACES:
                _, oldest = self._pending_rows.popitem(last=False)
                _add_rows(writes, oldest.rows)
        pending.rows.append((ledger, row))
        if len(pending.rows) >= _PENDING_MAX_ROWS:
            _add_rows(writes, pending.rows)
            pending.rows = []

    def _release_rows(
        self,
        trace_id: str,
        root_attrs: dict[str, Any] | None,
        writes: dict[str, tuple[RunLedger, RunWrites]],
    ) -> None:
        """The root arrived: its input (when it is not an LLM call) is the rows' input."""
        pending = self._pending_rows.pop(trace_id, None)
        if pending is None:
            return
        user_input = root_attrs.get(INPUT_VALUE) if root_attrs else None
        if user_input is not None and user_input != "":
            text = user_input if isinstance(user_input, str) else json.dumps(user_input)
            for _, row in pending.rows:
                row[INPUTS_INDEX] = text
        _add_rows(writes, pending.rows)

    def _release_stale_rows(self, writes: dict[str, tuple[RunLedger, RunWrites]]) -> None:
        horizon = time.monotonic() - _PENDING_MAX_AGE_S
        while self._pending_rows:
            trace_id, pending = next(iter(self._pending_rows.items()))
            if pending.since > horizon:
                return
            del self._pending_rows[trace_id]
            _add_rows(writes, pending.rows)

    def _write_pending_rows(self) -> None:
        """Write every waiting row with the call's own input (exit, disable)."""
        writes: dict[str, tuple[RunLedger, RunWrites]] = {}
        while self._pending_rows:
            _, pending = self._pending_rows.popitem(last=False)
            _add_rows(writes, pending.rows)
        for ledger, run_writes in writes.values():
            self._write_rows(ledger, run_writes.rows)

    def _plan_writes(
        self,
        store: Store,
        writes: dict[str, tuple[RunLedger, RunWrites]],
        records: list[SpanRecord],
    ) -> list[_StoreWrite]:
        """One prepared store write per store: all its runs' writes, and the batch's spans."""
        per_store: dict[Store, dict[str, RunBatch]] = {}
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
                job = self._plan_without_bad_input(target, runs, spans)
            except Exception:
                # Not the input: the writer runs the one-step write, which reports it as usual.
                job = functools.partial(target.log_export_batch, runs, spans)
            plan.append(_StoreWrite(runs, len(spans), job))
        return plan

    def _plan_without_bad_input(
        self,
        target: Store,
        runs: dict[str, RunBatch],
        spans: list[SpanRecord],
    ) -> Callable[[], dict[str, str]]:
        """The store refused the batch as a whole: leave out only the runs' writes and the spans
        it refuses on their own, so one odd span never costs its neighbours (rare; preparing is
        pure Python, a bisection finds k bad spans in about k*log2(n) tries)."""
        bad_runs: dict[str, str] = {}
        good_runs: dict[str, RunBatch] = {}
        for run_id, batch in runs.items():
            reason = _refusal(target, {run_id: batch}, [])
            if reason is None:
                good_runs[run_id] = batch
            else:
                bad_runs[run_id] = reason
        good_spans = self._storable_spans(target, spans)
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

    def _storable_spans(self, target: Store, spans: list[SpanRecord]) -> list[SpanRecord]:
        if not spans:
            return spans
        reason = _refusal(target, {}, spans)
        if reason is None:
            return spans
        if len(spans) == 1:
            self._count_drops(spans=1)
            self._warn_once(
                f"refused span: {reason[:80]}",
                f"spanrun: dropped span {spans[0].name!r}: {reason}; the other spans are kept",
            )
            return []
        half = len(spans) // 2
        return self._storable_spans(target, spans[:half]) + self._storable_spans(
            target, spans[half:]
        )

    def _write_batch(
        self, writes: dict[str, tuple[RunLedger, RunWrites]], plan: list[_StoreWrite]
    ) -> bool:
        """Each store's prepared transaction; the committed runs' prediction rows are queued
        for _append_ready_rows."""
        ok = True
        lost: set[str] = set()  # runs whose metrics were not written: their rows are not either
        for write in plan:
            runs = write.runs
            what = f"store {write.span_count} spans and the LLM calls of {len(runs)} runs"
            done, skipped = self._retry(what, write.job)
            if not done:
                ok = False
                lost.update(runs)
                self._count_drops(spans=write.span_count)
                continue
            for run_id, reason in (skipped or {}).items():
                self._warn_once(f"skipped {run_id}", f"spanrun: cannot log LLM calls: {reason}")
                lost.add(run_id)
                ok = False
        for ledger, w in writes.values():
            if ledger.run_id in lost:
                self._count_drops(calls=max(w.calls, len(w.rows)))
            elif w.rows:
                self._ready_rows.append((ledger, w.rows, w.encoded))
        return ok

    def _new_writer(self) -> _Writer:
        ref = weakref.WeakMethod(self._append_when_idle)  # the thread must not keep self alive

        def idle() -> bool:
            method = ref()
            return method() if method is not None else False

        return _Writer(idle)

    def _append_when_idle(self) -> bool:
        """The writer thread, idle: take the batches waiting for it and append committed rows
        no later export has taken along. True: try again later (an export holds the lock; it
        does both itself after its batch, unless it was past that point)."""
        if not self._ready_rows and self._pending is None:
            return False
        if not self._lock.acquire(blocking=False):
            return True
        try:
            if self._pending is not None and not self._writer.busy:
                self._submit_pending()  # this thread runs it next
            self._append_ready_rows()
        finally:
            self._lock.release()
        return False

    def _append_ready_rows(self) -> None:
        """Append the prediction rows of batches whose transaction is done (mapping thread).

        On the writer thread each file operation (open, lock, stat, read the header, write:
        about a dozen per run) gave up the GIL and waited to take it back from the mapping
        loop; here, between batches, they cost what the system calls cost, and the writer
        thread is left with the SQL. Rows still follow their batch's metrics: a batch's rows
        are queued only once its transaction committed.
        """
        ready = self._ready_rows
        if not ready:
            return
        # Files, not the store: a store that failed this thread's last batch does not make
        # them fail fast, nor does a file that fails mark the store down.
        state = self._state
        store_down, state.store_down = state.store_down, False
        try:
            while ready:
                ledger, rows, encoded = ready.popleft()
                self._write_rows(ledger, rows, encoded)
        finally:
            state.store_down = store_down

    def _write_rows(
        self, ledger: RunLedger, rows: list[list[str]], encoded: bytes | None = None
    ) -> bool:
        if not rows:
            return True
        done, _ = self._retry(
            f"append {len(rows)} rows to {PREDICTIONS_FILE} of run {ledger.run_id}",
            lambda: self._append_rows(ledger, rows, encoded),
        )
        if not done:
            self._count_drops(calls=len(rows))
        return done

    def _append_rows(
        self, ledger: RunLedger, rows: list[list[str]], encoded: bytes | None = None
    ) -> None:
        from spanrun.artifacts import get_artifact_repository

        repo = self._repos.get(ledger.artifact_uri)
        if repo is None:
            repo = get_artifact_repository(ledger.artifact_uri)
            if len(self._repos) > 1000:
                self._repos.clear()
            self._repos[ledger.artifact_uri] = repo
        append_prediction_rows(
            repo,
            rows,
            list(AUTOLOG_PREDICTION_COLUMNS),
            artifact_file=PREDICTIONS_FILE,
            encoded=encoded,
        )


def _refusal(store: Store, runs: dict[str, RunBatch], spans: list[SpanRecord]) -> str | None:
    """Why ``store`` refuses these writes as bad input, or None when it takes them (or fails
    for another reason, which the write itself then reports)."""
    try:
        store.prepare_export_batch(runs, spans)
    except InvalidInputError as exc:
        return str(exc)
    except Exception:
        return None
    return None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _add_rows(
    writes: dict[str, tuple[RunLedger, RunWrites]], rows: list[tuple[RunLedger, list[str]]]
) -> None:
    for ledger, row in rows:
        if ledger.run_id not in writes:
            writes[ledger.run_id] = (ledger, RunWrites())
        writes[ledger.run_id][1].rows.append(row)
