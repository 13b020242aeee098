"""Asynchronous logging: ``synchronous=False`` calls queue values for a background writer.

Values are validated on the caller's thread (bad input still raises at once), then appended to
a bounded in-memory queue. One daemon thread drains it and writes what it finds in as few
``store.log_batch`` calls as the batch limits allow, so a tight loop of ``log_metric`` calls
costs one transaction per thousand values instead of one per value.

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
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from spanrun.store.base import Store
    from spanrun.tracking.entities import Metric, Param, RunTag

__all__ = ["ASYNC_LOGGING_ENV", "RunOperations", "async_logging_enabled", "get_async_logger"]

_log = logging.getLogger(__name__)

ASYNC_LOGGING_ENV = "SPANRUN_ENABLE_ASYNC_LOGGING"
_MAX_PENDING_ITEMS = 200_000  # logging calls waiting to be written; then callers wait
_MAX_KEPT_ERRORS = 1000
_WRITE_CHUNK = 20_000  # values per store transaction


def async_logging_enabled(synchronous: bool | None) -> bool:
    """Whether a call with this ``synchronous`` argument should be queued."""
    if synchronous is not None:
        return not synchronous
    return os.environ.get(ASYNC_LOGGING_ENV, "").strip().lower() in ("1", "true", "yes")


class _Item(NamedTuple):
    seq: int
    store: Store
    run_id: str
    metrics: Sequence[Metric]
    params: Sequence[Param]
    tags: Sequence[RunTag]


class RunOperations:
    """Handle on queued logging calls (MLflow's ``RunOperations``)."""

    __slots__ = ("_logger", "_seqs")

    def __init__(self, logger: AsyncLogger | None, seqs: Sequence[int]) -> None:
        self._logger = logger
        self._seqs = tuple(seqs)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the values are written; re-raise the error if writing failed."""
        if self._logger is None or not self._seqs:
            return
        self._logger.wait_for(max(self._seqs), timeout)
        self._logger.raise_errors_for(self._seqs)

    def __repr__(self) -> str:
        return f"RunOperations({len(self._seqs)} call(s))"


class AsyncLogger:
    """The queue and its writer thread (one per process)."""

    def __init__(self, max_pending: int = _MAX_PENDING_ITEMS) -> None:
        self._max_pending = max_pending
        self._init_state()
        os.register_at_fork(after_in_child=self._init_state)
        atexit.register(self._flush_at_exit)

    def _init_state(self) -> None:
        self._items: deque[_Item] = deque()
        self._lock = threading.Lock()  # orders seq numbers with queue order
        self._seq = 0
        self._done_seq = 0
        self._done = threading.Condition()
        self._wake = threading.Event()
        self._errors: dict[int, BaseException] = {}
        self._unreported: list[BaseException] = []
        self._thread: threading.Thread | None = None

    # -- producer side ---------------------------------------------------------------------
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
            self._seq += 1
            seq = self._seq
            self._items.append(_Item(seq, store, run_id, metrics, params, tags))
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        return RunOperations(self, (seq,))

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

    def raise_errors_for(self, seqs: Sequence[int]) -> None:
        for seq in seqs:
            error = self._errors.get(seq)
            if error is not None:
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
                batch: list[_Item] = []
                items = self._items
                while items and len(batch) < 20_000:
                    batch.append(items.popleft())
                try:
                    self._write(batch)
                except BaseException:  # the writer thread must survive anything
                    _log.exception("spanrun: async logging writer failed unexpectedly")
                with self._done:
                    self._done_seq = batch[-1].seq
                    self._done.notify_all()

    def _write(self, batch: list[_Item]) -> None:
        groups: dict[tuple[int, str], list[_Item]] = {}
        for item in batch:
            groups.setdefault((id(item.store), item.run_id), []).append(item)
        for items in groups.values():
            merged = _merge(items)
            if merged is not None:
                try:
                    _log_chunked(items[0].store, items[0].run_id, *merged)
                    continue
                except Exception:  # retried call by call below
                    pass
            # Write call by call so one bad call (a changed param, a deleted run) neither loses
            # the others' values nor hides which call failed.
            for item in items:
                try:
                    _log_chunked(item.store, item.run_id, item.metrics, item.params, item.tags)
                except Exception as exc:  # reported through wait()/flush()
                    self._record_error(item.seq, exc)

    def _record_error(self, seq: int, exc: BaseException) -> None:
        _log.warning("spanrun: asynchronous logging failed: %s", exc)
        with self._lock:
            if len(self._errors) >= _MAX_KEPT_ERRORS:
                self._errors.pop(next(iter(self._errors)))
            self._errors[seq] = exc
            self._unreported.append(exc)


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
