"""What the exporter gave up on: counted drops and once-only warnings."""

from __future__ import annotations

import logging
import threading

from spanrun.core import internal_errors

__all__ = ["Drops"]

_log = logging.getLogger("spanrun.exporters._run_exporter")  # the logger users already filter
_MAX_WARNING_KEYS = 1000


class Drops:
    """Counts spans and LLM calls given up on, and warns once per kind of problem.

    Both the mapping and the writer thread count drops.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        #: spans whose store write was given up after retries (see the log for why)
        self.spans = 0
        #: LLM calls whose run writes (metrics/params/rows) were given up
        self.calls = 0
        #: of :attr:`spans`, those dropped for what they hold (refused by the store as bad
        #: input, or not mappable), not because the store failed: sending them again won't help
        self.refused = 0

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the parent's threads may have held it at fork time

    def count(self, spans: int = 0, calls: int = 0, refused: bool = False) -> None:
        """Count drops; ``refused``: the spans were dropped for what they hold."""
        with self._lock:
            self.spans += spans
            self.calls += calls
            if refused:
                self.refused += spans

    def warn_once(self, key: str, message: str) -> None:
        """Log ``message`` the first time ``key`` is seen (at most 1,000 keys)."""
        if key not in self._warned and len(self._warned) < _MAX_WARNING_KEYS:
            self._warned.add(key)
            _log.warning(message)

    def span_failed(self, exc: Exception) -> None:
        """A span that could not be mapped is dropped alone; the rest of its batch goes on."""
        self.count(spans=1, refused=True)
        # Hostile span data is handled where it is read; an exception here is a bug of ours.
        try:
            raise exc
        except Exception:
            internal_errors.report("mapping a span (dropped alone; the rest of its batch is kept)")
