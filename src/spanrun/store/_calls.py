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

#: The metrics an LLM call row holds, in row order: per-call values, then running totals.
CALL_METRICS: tuple[str, ...] = (
    "llm.input_tokens",
    "llm.output_tokens",
    "llm.total_tokens",
    "llm.latency_ms",
    "llm.time_to_first_token_ms",
    "llm.cost_usd",
    "llm.calls",
    "llm.total_input_tokens",
    "llm.total_output_tokens",
    "llm.cumulative_tokens",
    "llm.total_cost_usd",
)
#: The ``llm_calls`` columns of those metrics (the key without ``llm.``), in the same order.
CALL_COLUMNS: tuple[str, ...] = tuple(key.removeprefix("llm.") for key in CALL_METRICS)
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


def checked_calls(run_id: str, calls: Sequence[Any]) -> list[CallRow]:
    """The call rows, checked: 64-bit integer step and timestamp, numbers or None (a NaN value
    counts as none: the call has no such value)."""
    out: list[CallRow] = []
    for row in calls:
        if type(row) is not tuple or len(row) != _WIDTH:
            if not isinstance(row, Sequence) or len(row) != _WIDTH:
                raise _bad(run_id, row, f"{_WIDTH} items")
            row = tuple(row)
        step, timestamp = row[0], row[1]
        if not (
            type(step) is int
            and type(timestamp) is int
            and -_INT64 <= step < _INT64
            and -_INT64 <= timestamp < _INT64
        ):
            raise _bad(run_id, row, "step and timestamp must be 64-bit integers")
        nan = False
        for value in row[2:]:
            if value is None:
                continue
            kind = type(value)
            if kind is float:
                nan = nan or value != value
            elif kind is not int or not -_INT64 <= value < _INT64:
                return [*out, *_converted(run_id, calls[len(out) :])]
        if nan:
            row = (*row[:2], *(None if v != v else v for v in row[2:]))
        out.append(row)
    return out


def _converted(run_id: str, calls: Sequence[Any]) -> list[CallRow]:
    """The slow path of :func:`checked_calls`: values that are not plain ints or floats."""
    out: list[CallRow] = []
    for row in calls:
        row = tuple(row)
        values: list[Any] = []
        for value in row[2:]:
            if value is None:
                values.append(None)
                continue
            if isinstance(value, bool):
                raise _bad(run_id, row, f"{value!r} is not a number")
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                raise _bad(run_id, row, f"{value!r} is not a number") from None
            values.append(None if math.isnan(number) else number)
        out.extend(checked_calls(run_id, [(*row[:2], *values)]))
    return out


def latest_of_calls(calls: Sequence[CallRow]) -> list[tuple[str, float, int, int]]:
    """Each call metric's latest value among ``calls``, by (step, timestamp); ties go to the
    later row. Metric rows ``(key, value, timestamp, step)``."""
    order = sorted(range(len(calls)), key=lambda i: (calls[i][0], calls[i][1], i), reverse=True)
    latest: list[tuple[str, float, int, int]] = []
    missing = list(range(len(CALL_METRICS)))
    for i in order:
        row = calls[i]
        still = []
        for column in missing:
            value = row[2 + column]
            if value is None:
                still.append(column)
            else:
                latest.append((CALL_METRICS[column], value, row[1], row[0]))
        missing = still
        if not missing:
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
