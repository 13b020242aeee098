"""LLM calls stored one row each: the per-call metrics of autolog without 8 history rows per call.

Every LLM call the exporter counts gives its run a value at the call's step for each of
:data:`CALL_METRICS` (tokens, latency, running totals...). Written as metric history that was
8-11 rows (and index entries) per call, most of an export transaction; the ``llm_calls`` table
keeps one row per call with a column per metric instead. Readers see no difference:
``get_metric_history`` of one of these keys returns the ``metrics`` rows and the calls' values
merged by (step, timestamp), and ``latest_metrics`` is kept up to date as for any metric.

A call row is ``(step, timestamp_ms, *values)`` with the values in :data:`CALL_METRICS` order,
``None`` where the call has none (no token usage reported, no price known, not a stream).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from spanrun.core.vocabulary import CALL_COLUMNS, CALL_METRICS
from spanrun.errors import InvalidInputError

__all__ = [
    "CALL_COLUMNS",
    "CALL_METRICS",
    "CallRow",
    "call_column",
    "calls_as_metrics",
    "calls_by_run",
    "checked_calls",
    "latest_of_calls",
    "unpack_run_batch",
]

_COLUMN_OF = dict(zip(CALL_METRICS, CALL_COLUMNS, strict=True))
_WIDTH = 2 + len(CALL_METRICS)
_INT64 = 2**63

#: (step, timestamp_ms, value of each CALL_METRICS key or None)
CallRow = tuple[Any, ...]


def call_column(key: str) -> str | None:
    """The ``llm_calls`` column holding metric ``key``; None for other metrics."""
    return _COLUMN_OF.get(key)


def unpack_run_batch(batch: Sequence[Any]) -> tuple[Any, Any, Any, Sequence[CallRow]]:
    """(metrics, params, tags, calls) of a ``RunBatch``; a 3-tuple has no calls."""
    if len(batch) == 3:
        metrics, params, tags = batch
        return metrics, params, tags, ()
    metrics, params, tags, calls = batch
    return metrics, params, tags, calls


def _bad(run_id: str, row: Any, why: str) -> InvalidInputError:
    return InvalidInputError(
        f"Invalid LLM call {row!r} for run {run_id!r}: {why} (expected (step, timestamp_ms, "
        f"then {len(CALL_METRICS)} numbers or None: {', '.join(CALL_METRICS)}))"
    )


_NUMBER_TYPES = {int, float, type(None)}


def checked_calls(run_id: str, calls: Sequence[Any]) -> list[CallRow]:
    """The call rows, checked: 64-bit integer step and timestamp, numbers or None (a NaN value
    counts as none: the call has no such value). Odd numbers (numpy, Decimal) become floats."""
    rows = calls if type(calls) is list else list(calls)
    if not rows:
        return []
    # Column by column, with the loops in C (map, set, min/max): an export batch has hundreds
    # of calls and this runs on the exporter's mapping thread.
    if set(map(type, rows)) != {tuple} or set(map(len, rows)) != {_WIDTH}:
        rows = [_shaped(run_id, row) for row in rows]
    columns = list(zip(*rows, strict=True))
    for column in columns[:2]:  # step, timestamp
        if set(map(type, column)) != {int} or min(column) < -_INT64 or max(column) >= _INT64:
            bad = next(r for r in rows if not _is_int64(r[0]) or not _is_int64(r[1]))
            raise _bad(run_id, bad, "step and timestamp must be 64-bit integers")
    odd = False
    for column in columns[2:]:
        kinds = set(map(type, column))
        if not kinds <= _NUMBER_TYPES:
            odd = True
        elif int in kinds:
            ints = [v for v in column if type(v) is int]
            odd = odd or min(ints) < -_INT64 or max(ints) >= _INT64
        if float in kinds and any(map(math.isnan, (v for v in column if type(v) is float))):
            odd = True
    if odd:
        return [_converted(run_id, row) for row in rows]
    return rows


def _is_int64(value: Any) -> bool:
    return type(value) is int and -_INT64 <= value < _INT64


def _shaped(run_id: str, row: Any) -> CallRow:
    if isinstance(row, (str, bytes)) or not isinstance(row, Sequence) or len(row) != _WIDTH:
        raise _bad(run_id, row, f"{_WIDTH} items")
    return tuple(row)


def _converted(run_id: str, row: CallRow) -> CallRow:
    """One row's values as plain numbers: ints in range stay, others become floats; NaN is
    none."""
    values: list[Any] = []
    for value in row[2:]:
        if value is None or (type(value) is int and -_INT64 <= value < _INT64):
            values.append(value)
            continue
        if isinstance(value, bool):
            raise _bad(run_id, row, f"{value!r} is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise _bad(run_id, row, f"{value!r} is not a number") from None
        values.append(None if math.isnan(number) else number)
    return (*row[:2], *values)


def latest_of_calls(calls: Sequence[CallRow]) -> list[tuple[str, float, int, int]]:
    """Each call metric's latest value among ``calls``, by (step, timestamp); ties go to the
    later row. Metric rows ``(key, value, timestamp, step)``."""
    if not calls:
        return []
    keys = [(row[0], row[1]) for row in calls]
    # The exporter's calls come in step order: then the last row is the latest.
    order = list(range(len(calls)))
    if keys != sorted(keys):
        order.sort(key=lambda i: keys[i])  # stable: ties keep their order
    latest = []
    for column, key in enumerate(CALL_METRICS, start=2):
        for i in reversed(order):
            value = calls[i][column]
            if value is not None:
                latest.append((key, value, calls[i][1], calls[i][0]))
                break
    return latest


def calls_as_metrics(calls: Sequence[CallRow]) -> list[tuple[str, float, int, int]]:
    """The calls as metric history rows ``(key, value, timestamp, step)`` (stores without a
    calls table log these)."""
    return [
        (key, value, row[1], row[0])
        for row in calls
        for key, value in zip(CALL_METRICS, row[2:], strict=True)
        if value is not None
    ]


def calls_by_run(runs: Mapping[str, Sequence[Any]]) -> dict[str, Sequence[CallRow]]:
    """run_id -> its call rows, for the runs of an export batch that have any."""
    out = {}
    for run_id, batch in runs.items():
        calls = unpack_run_batch(batch)[3]
        if calls:
            out[run_id] = calls
    return out
