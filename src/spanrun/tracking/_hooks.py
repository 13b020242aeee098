"""Flush hooks: callables that ``end_run()`` calls before it records the run's end status.

The span exporter registers its ``force_flush`` here so every span of a run is stored before
the run is marked finished. A failing hook is logged and never breaks ``end_run()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["add_flush_hook", "remove_flush_hook", "run_flush_hooks"]

_log = logging.getLogger(__name__)

FlushHook = Callable[[], object]


class _FlushHooks:
    def __init__(self) -> None:
        self._hooks: list[FlushHook] = []
        self._lock = threading.Lock()

    def add(self, hook: FlushHook) -> FlushHook:
        """Register ``hook`` (once; adding it again is a no-op). Returns it, so it decorates."""
        with self._lock:
            if hook not in self._hooks:
                self._hooks.append(hook)
        return hook

    def remove(self, hook: FlushHook) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def run(self) -> None:
        with self._lock:
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:
                # A telemetry flush must never turn a finished run into a crash.
                _log.warning(
                    "spanrun: flush hook %r failed; the run still ends", hook, exc_info=True
                )


_hooks = _FlushHooks()

add_flush_hook = _hooks.add
remove_flush_hook = _hooks.remove
run_flush_hooks = _hooks.run
