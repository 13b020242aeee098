"""Asynchronous logging: ``synchronous=False`` calls queue values for a background writer.

Values are validated on the caller's thread (bad input still raises at once), then appended to
a bounded in-memory queue; a single ``log_metric`` value is queued as a plain tuple, the
cheapest thing to build, since the caller's time per value is what limits a tight loop. One
daemon thread takes the whole queue at once and writes it per run in transactions of up to
20,000 values (``Store.log_checked_metrics``), so a loop of
``log_metric`` calls costs one transaction per many thousand values instead of one per value.

Each call returns a :class:`RunOperations`; ``wait()`` blocks until its values are written and
re-raises the error if writing them failed. Pending values are flushed by ``end_run()``, by
:func:`flush` and at interpreter exit. When the queue is full, callers wait (values are never
dropped). Durability: a queued value is safe once ``wait()``/``flush()`` has returned; values
still queued when the process is killed (``kill -9``, ``os._exit``) are lost.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from spanrun.core.entities import Metric
from spanrun.core.settings import env_setting

if TYPE_CHECKING:
    from spanrun.core.entities import Param, RunTag
    from spanrun.store.base import Store

__all__ = ["ASYNC_LOGGING_ENV", "RunOperations", "async_logging_enabled", "get_async_logger"]

_log = logging.getLogger(__name__)

ASYNC_LOGGING_ENV = "SPANRUN_ENABLE_ASYNC_LOGGING"
_MAX_PENDING_ITEMS = 200_000  # logging calls waiting to be written; then callers wait
_MAX_KEPT_ERROR_SEQS = 100_000  # calls whose write error wait() can still re-raise
_WRITE_CHUNK = 20_000  # values per store transaction


def async_logging_enabled(synchronous: bool | None) -> bool:
    """Whether a call with this ``synchronous`` argument should be queued."""
    if synchronous is not None:
        return not synchronous
    found = env_setting("ENABLE_ASYNC_LOGGING")  # else MLflow's MLFLOW_ENABLE_ASYNC_LOGGING
    return found is not None and found[1].strip().lower() in ("1", "true", "yes")


class _Item(NamedTuple):
    """A queued call with params, tags or several metrics."""

    seq: int
    store: Store
    run_id: str
    metrics: Sequence[Metric]
    params: Sequence[Param]
    tags: Sequence[RunTag]


# A queued single metric value is a plain 4-tuple (seq, store, run_id, (key, value, ts, step)):
# the cheapest thing to build on the caller's thread. Queue entries are told apart by length.
_ValueItem = tuple[int, "Store", str, tuple[str, float, int, int]]


class RunOperations:
    """Handle on a queued logging call (MLflow's ``RunOperations``)."""

    __slots__ = ("_logger", "_seq")

    def __init__(self, logger: AsyncLogger | None, seq: int) -> None:
        self._logger = logger
        self._seq = seq

    def wait(self, timeout: float | None = None) -> None:
        """Block until the values are written; re-raise the error if writing failed."""
        if self._logger is None:
            return
        self._logger.wait_for(self._seq, timeout)
        self._logger.raise_errors_for(self._seq)

    def __repr__(self) -> str:
        return f"RunOperations(call {self._seq})"


class AsyncLogger:
    """The queue and its writer thread (one per process)."""

    def __init__(self, max_pending: int = _MAX_PENDING_ITEMS) -> None:
        self._max_pending = max_pending
        self._init_state()
        if hasattr(os, "register_at_fork"):  # not on Windows
            os.register_at_fork(after_in_child=self._init_state)
        atexit.register(self._flush_at_exit)

    def _init_state(self) -> None:
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()  # orders seq numbers with queue order
        self._seq = 0
        self._done_seq = 0
        self._done = threading.Condition()
        self._wake = threading.Event()
        # (seqs of one failed write, its error), oldest first; bounded by _MAX_KEPT_ERROR_SEQS.
        self._errors: deque[tuple[frozenset[int], BaseException]] = deque()
        self._error_seqs = 0
        self._unreported: list[BaseException] = []
        self._thread: threading.Thread | None = None

    # -- producer side ---------------------------------------------------------------------
    def enqueue_metric(
        self, store: Store, run_id: str, key: str, value: float, timestamp: int, step: int
    ) -> RunOperations:
        """Queue one metric value the caller has validated (the ``log_metric`` hot path)."""
        if len(self._items) >= self._max_pending:
            self._wait_for_room()
        with self._lock:
            self._seq = seq = self._seq + 1
            self._items.append((seq, store, run_id, (key, value, timestamp, step)))
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        return RunOperations(self, seq)

    def enqueue(
        self,
        store: Store,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> RunOperations:
        if len(self._items) >= self._max_pending:
            self._wait_for_room()
        with self._lock:
            self._seq = seq = self._seq + 1
            self._items.append(_Item(seq, store, run_id, metrics, params, tags))
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        return RunOperations(self, seq)

    def _wait_for_room(self) -> None:
        self._wake.set()
        with self._done:
            while len(self._items) >= self._max_pending:
                self._done.wait(0.05)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(
                    target=self._run, name="spanrun-async-logging", daemon=True
                )
                thread.start()
                self._thread = thread

    # -- waiting ---------------------------------------------------------------------------
    def wait_for(self, seq: int, timeout: float | None = None) -> None:
        with self._done:
            if not self._done.wait_for(lambda: self._done_seq >= seq, timeout):
                raise TimeoutError(f"queued logging calls not written within {timeout} s")

    def raise_errors_for(self, seq: int) -> None:
        with self._lock:
            errors = list(self._errors)
        for seqs, error in errors:
            if seq in seqs:
                raise error

    def flush(self, timeout: float | None = None) -> None:
        """Write everything queued so far; re-raise the first write error since the last flush."""
        seq = self._seq
        if seq > self._done_seq:
            self._wake.set()
            self.wait_for(seq, timeout)
        with self._lock:
            errors, self._unreported = self._unreported, []
        if errors:
            raise errors[0]

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except Exception:
            _log.error("spanrun: some asynchronously logged values could not be written")

    # -- writer side -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()  # clear before draining: a later append sets it again
            while self._items:
                # Take the whole queue at once (no per-item work), then write it in chunks.
                with self._lock:
                    taken, self._items = self._items, deque()
                items = list(taken)
                for start in range(0, len(items), _WRITE_CHUNK):
                    batch = items[start : start + _WRITE_CHUNK]
                    try:
                        self._write(batch)
                    except BaseException:  # the writer thread must survive anything
                        _log.exception("spanrun: async logging writer failed unexpectedly")
                    with self._done:
                        self._done_seq = batch[-1][0]
                        self._done.notify_all()

    def _write(self, batch: list[Any]) -> None:
        groups: dict[tuple[Store, str], list[Any]] = {}
        mixed: set[tuple[Store, str]] = set()
        for item in batch:
            key = (item[1], item[2])
            group = groups.get(key)
            if group is None:
                groups[key] = [item]
            else:
                group.append(item)
            if len(item) != 4:
                mixed.add(key)
        for key, items in groups.items():
            if key in mixed:
                self._write_calls(key[0], key[1], items)
            else:
                self._write_values(key[0], key[1], items)

    def _write_values(self, store: Store, run_id: str, items: list[_ValueItem]) -> None:
        """Single metric values of one run: one transaction, no per-value objects."""
        rows = [item[3] for item in items]
        try:
            store.log_checked_metrics(run_id, rows)
        except Exception as exc:  # the same cause for all (run deleted, database down)
            self._record_error([item[0] for item in items], exc)

    def _write_calls(self, store: Store, run_id: str, queued: list[Any]) -> None:
        items = [item if len(item) != 4 else _value_call(item) for item in queued]
        merged = _merge(items)
        if merged is not None:
            try:
                _log_chunked(store, run_id, *merged)
                return
            except Exception:  # retried call by call below
                pass
        # Write call by call so one bad call (a changed param, a deleted run) neither loses
        # the others' values nor hides which call failed.
        for item in items:
            try:
                _log_chunked(store, run_id, item.metrics, item.params, item.tags)
            except Exception as exc:  # reported through wait()/flush()
                self._record_error([item.seq], exc)

    def _record_error(self, seqs: list[int], exc: BaseException) -> None:
        _log.warning("spanrun: asynchronous logging failed: %s", exc)
        with self._lock:
            self._errors.append((frozenset(seqs), exc))
            self._error_seqs += len(seqs)
            while self._error_seqs > _MAX_KEPT_ERROR_SEQS and len(self._errors) > 1:
                self._error_seqs -= len(self._errors.popleft()[0])
            self._unreported.append(exc)


def _value_call(item: _ValueItem) -> _Item:
    return _Item(item[0], item[1], item[2], [Metric(*item[3])], (), ())


def _merge(
    items: list[_Item],
) -> tuple[list[Metric], list[Param], list[RunTag]] | None:
    """One run's queued calls as one batch; None when params conflict (write them one by one)."""
    if len(items) == 1:
        item = items[0]
        return list(item.metrics), list(item.params), list(item.tags)
    metrics: list[Metric] = []
    params: dict[str, Param] = {}
    tags: dict[str, RunTag] = {}
    for item in items:
        metrics.extend(item.metrics)
        for p in item.params:
            seen = params.get(p.key)
            if seen is not None and seen.value != p.value:
                return None
            params[p.key] = p
        for t in item.tags:
            tags.pop(t.key, None)  # keep the latest value, in the order it was set
            tags[t.key] = t
    return metrics, list(params.values()), list(tags.values())


def _log_chunked(
    store: Store,
    run_id: str,
    metrics: Sequence[Metric],
    params: Sequence[Param],
    tags: Sequence[RunTag],
) -> None:
    """Write in transactions of at most ``_WRITE_CHUNK`` values of each kind.

    The per-call limits (1000 metrics, ...) bound what a user sends in one request; the writer
    is internal and uses larger transactions because each commit costs as much as thousands of
    rows.
    """
    size = _WRITE_CHUNK
    start = 0
    while True:
        chunk_m = metrics[start : start + size]
        chunk_p = params[start : start + size]
        chunk_t = tags[start : start + size]
        if not (chunk_m or chunk_p or chunk_t):
            return
        store.log_batch(run_id, metrics=chunk_m, params=chunk_p, tags=chunk_t)
        start += size


class _Holder:
    logger: AsyncLogger | None = None
    lock = threading.Lock()


def get_async_logger() -> AsyncLogger:
    """The process's async logger, created (with its exit hook) on first use."""
    logger = _Holder.logger
    if logger is None:
        with _Holder.lock:
            if _Holder.logger is None:
                _Holder.logger = AsyncLogger()
            logger = _Holder.logger
    return logger


def flush(timeout: float | None = None) -> None:
    """Write every queued value now (no-op when async logging was never used)."""
    if _Holder.logger is not None:
        _Holder.logger.flush(timeout)
