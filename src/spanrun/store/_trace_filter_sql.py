"""A ``TraceFilter`` as conditions of the trace search (bound parameters only)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from spanrun.core.text import bad_character
from spanrun.errors import InvalidInputError
from spanrun.store import _models as m
from spanrun.store.base import TraceFilter

__all__ = ["TRACE_STATUSES", "filter_traces"]

TRACE_STATUSES = ("OK", "ERROR", "UNSET")
_NS_PER_MS = 1_000_000


def filter_traces(stmt: sa.Select[Any], found: TraceFilter) -> sa.Select[Any]:
    """``stmt`` (a select of the traces table) keeping only the traces ``found`` passes."""
    t = m.traces.c
    if found.status:
        if found.status not in TRACE_STATUSES:
            raise InvalidInputError(
                f"Unknown trace status {found.status!r} (one of {', '.join(TRACE_STATUSES)})"
            )
        stmt = stmt.where(t.status == found.status)
    if found.name:
        if bad_character(found.name) is not None:
            raise InvalidInputError("A trace name filter cannot hold NUL or lone surrogates")
        # A substring whatever it holds: % and _ are escaped, not wildcards.
        stmt = stmt.where(sa.func.lower(t.name).contains(found.name.lower(), autoescape=True))
    duration = t.end_time_ns - t.start_time_ns
    if found.min_duration_ms is not None:
        stmt = stmt.where(duration >= _ns(found.min_duration_ms))
    if found.max_duration_ms is not None:
        stmt = stmt.where(duration <= _ns(found.max_duration_ms))
    if found.start_from_ms is not None:
        stmt = stmt.where(t.start_time_ns >= _ns(found.start_from_ms))
    if found.start_to_ms is not None:
        stmt = stmt.where(t.start_time_ns < _ns(found.start_to_ms))
    return stmt


def _ns(ms: float) -> int:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms != ms:
        raise InvalidInputError(f"Invalid time or duration {ms!r} (milliseconds expected)")
    # Bounded to what a 64-bit column can compare with.
    return int(max(-(2**62), min(2**62, ms * _NS_PER_MS)))
