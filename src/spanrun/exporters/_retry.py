"""The exporter's retry policy for store (and artifact) operations."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from spanrun.errors import NotFoundError, SpanrunError, StoreError

__all__ = ["RetryPolicy"]

_log = logging.getLogger("spanrun.exporters._run_exporter")  # the logger users already filter
T = TypeVar("T")


class _ThreadState(threading.local):
    # Per thread: the mapping thread and the writer thread each give up on their own.
    store_down = False


class RetryPolicy:
    """Runs one operation, retrying store failures ``max_attempts`` times with backoff
    (``delay_s``, doubled per retry).

    Once an operation gave up because the store is down, :attr:`store_down` is set for the
    calling thread and later operations fail fast (the rest of the batch is not retried span by
    span) until the thread resets it. ``warn_once(key, message)`` reports a missing object.
    """

    def __init__(
        self, max_attempts: int, delay_s: float, warn_once: Callable[[str, str], None]
    ) -> None:
        self.max_attempts = max(1, max_attempts)
        self.delay_s = delay_s
        self._warn_once = warn_once
        self._state = _ThreadState()

    @property
    def store_down(self) -> bool:
        """This thread's last operation gave up (reset per batch by the caller)."""
        return self._state.store_down

    @store_down.setter
    def store_down(self, value: bool) -> None:
        self._state.store_down = value

    def after_fork_in_child(self) -> None:
        self._state = _ThreadState()

    def run(
        self, what: str, fn: Callable[[], T], raise_not_found: bool = False
    ) -> tuple[bool, T | None]:
        """``(True, fn())``, or ``(False, None)`` when it failed for good (logged).

        A ``NotFoundError`` is not retried: it is raised with ``raise_not_found``, else warned
        about once per ``what``. Other spanrun errors that are not ``StoreError`` (bad input)
        are not retried either.
        """
        state = self._state
        if state.store_down:
            return False, None
        delay = self.delay_s
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
