"""The exporter's second stage: one writer thread that runs write jobs in order."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value

from spanrun.core import internal_errors

__all__ = ["IDLE_AFTER_S", "Writer"]

_log = logging.getLogger("spanrun.exporters._run_exporter")  # the logger users already filter
IDLE_AFTER_S = 0.02  # the idle writer takes waiting batches and rows itself after this


class Writer:
    """One background thread that runs write jobs in order, at most one at a time.

    ``submit`` waits while the previous job still runs, so one batch is written while the
    caller maps the next one: at most one batch is in flight and memory stays bounded. The
    thread starts on the first job (a forked child makes a new ``Writer``) and runs its jobs
    with instrumentation suppressed. ``idle``, when given, is called on the thread once no job
    came for ``IDLE_AFTER_S`` after one ended, and again after as long while it returns True.
    A job or ``idle`` that raises is logged; the thread goes on.
    """

    def __init__(self, idle: Callable[[], bool] | None = None) -> None:
        self._cond = threading.Condition()
        self._job: Callable[[], object] | None = None
        self._thread: threading.Thread | None = None
        self._idle = idle
        self._idle_due = False

    def submit(self, job: Callable[[], object]) -> None:
        """Hand ``job`` to the thread, once the job in flight (if any) is done."""
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
                        elif not self._cond.wait(IDLE_AFTER_S) and self._job is None:
                            break
                    job = self._job
                if job is None:
                    self._idle_due = self._run_idle()
                    continue
                try:
                    job()
                except Exception:
                    internal_errors.report_in_background("writing spans", logger=_log)
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
            internal_errors.report_in_background("idle work of the writer thread", logger=_log)
            return False
