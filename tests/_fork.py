"""Run a check in a forked child process (for stores and exporters that must survive fork)."""

from __future__ import annotations

import os
from collections.abc import Callable


def in_forked_child(check: Callable[[], object]) -> int:
    """Run ``check()`` in a forked child; its exit code: 0 when it returned (anything but
    False), 2 when it returned False, 1 when it raised. The child leaves with ``os._exit``,
    so it never runs pytest or the parent's exit hooks."""
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller
        code = 1
        try:
            code = 2 if check() is False else 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
