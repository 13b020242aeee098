"""spanrun's one policy for its own errors (a bug or a surprise in spanrun, not the user's).

The rules, for every layer (instrumentation, exporters, ...):

1. spanrun's own code never raises into the user's program. Where our code can fail on the
   user's path (a patched call, a callback, an export), the exception is caught right there and
   passed to :func:`report` (or the block runs under :func:`internal_errors`); the user's call
   carries on, with less telemetry. The user's own exceptions are never caught by this: they
   propagate unchanged.
2. Each site (the ``what`` text, e.g. ``"recording an OpenAI response"``) is logged once at
   WARNING, with the traceback and the message "your code still runs, with less telemetry";
   later errors at the same site are logged at DEBUG and counted (:func:`error_counts`), so a
   bug hit on every call does not flood the logs.
3. When ``SPANRUN_RAISE_INTERNAL_ERRORS`` is true (``1``, ``true``, ``yes``, ``on``), the error
   is logged and then re-raised, so bugs surface. spanrun's own test suite sets it (as
   pydantic/logfire re-raises under pytest); read at each error, never on the hot path.
   On spanrun's own threads (the exporter's worker and writer), raising would only end the
   thread: :func:`report_in_background` keeps the exception instead, and the next
   ``force_flush`` on the caller's thread re-raises it (:func:`raise_deferred`).

Expected conditions that are not bugs (a store that is down, a full queue, a run that never
ended) are not internal errors: their code logs its own warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator

__all__ = [
    "RAISE_ENV",
    "error_counts",
    "internal_errors",
    "raise_deferred",
    "raise_enabled",
    "report",
    "report_in_background",
    "reset",
]

RAISE_ENV = "SPANRUN_RAISE_INTERNAL_ERRORS"

_TRUE = frozenset({"1", "true", "yes", "on"})
_MAX_SITES = 1024  # sites are code locations, so few; the cap only guards dynamic ``what`` texts
_logger = logging.getLogger("spanrun")
_lock = threading.Lock()
_counts: dict[str, int] = {}
# Exceptions of spanrun's own threads kept for the caller's thread (rule 3): the first one only.
_deferred: list[Exception] = []


def raise_enabled() -> bool:
    """True when ``SPANRUN_RAISE_INTERNAL_ERRORS`` asks for internal errors to be re-raised."""
    return os.environ.get(RAISE_ENV, "").strip().lower() in _TRUE


def report(what: str, *, logger: logging.Logger | None = None) -> None:
    """Report the exception being handled as an internal error; call it from an ``except`` block.

    ``what`` names the site ("while <what>"); ``logger`` is the caller's (``spanrun`` by
    default). Logs (rule 2), then re-raises the exception when :func:`raise_enabled` (rule 3).
    """
    first = False
    with _lock:
        count = _counts.get(what, 0) + 1
        if count > 1 or len(_counts) < _MAX_SITES:  # past the cap, a new site counts as seen
            _counts[what] = count
            first = count == 1
    log = logger or _logger
    if first:
        log.warning(
            "spanrun: internal error while %s; your code still runs, with less telemetry",
            what,
            exc_info=True,
        )
    else:
        log.debug("spanrun: internal error while %s (%d times)", what, count, exc_info=True)
    if raise_enabled():
        raise  # the exception the caller is handling


@contextlib.contextmanager
def internal_errors(what: str, *, logger: logging.Logger | None = None) -> Iterator[None]:
    """Run a block of spanrun's own code: an ``Exception`` from it goes to :func:`report`."""
    try:
        yield
    except Exception:
        report(what, logger=logger)


def report_in_background(what: str, *, logger: logging.Logger | None = None) -> None:
    """:func:`report` for spanrun's own threads: logs the same way and never raises there; when
    :func:`raise_enabled`, the exception is kept for :func:`raise_deferred`."""
    try:
        report(what, logger=logger)
    except Exception as exc:
        with _lock:
            if not _deferred:
                _deferred.append(exc)


def raise_deferred() -> None:
    """Re-raise (once) the first exception :func:`report_in_background` kept; call it on the
    caller's thread (``force_flush``). Does nothing when none was kept."""
    if not _deferred:  # the usual case: no lock
        return
    with _lock:
        if not _deferred:
            return
        exc = _deferred.pop()
    raise exc


def error_counts() -> dict[str, int]:
    """How many internal errors each site has reported in this process (a copy)."""
    with _lock:
        return dict(_counts)


def reset() -> None:
    """Forget the sites seen (their next error is logged at WARNING again); for tests."""
    with _lock:
        _counts.clear()
        _deferred.clear()
