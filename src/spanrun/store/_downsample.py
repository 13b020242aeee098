"""Down-sampling of a metric history in Python, for stores that cannot do it in a query (the
REST store against a stock MLflow server). The same rule as the SQL stores' (``_history_sql``)."""

from __future__ import annotations

from collections.abc import Sequence

from spanrun.core.entities import Metric
from spanrun.errors import InvalidInputError

__all__ = ["MAX_BUCKETS", "check_max_points", "downsample"]

#: Intervals at most, whatever ``max_points`` says (keeps the arithmetic within 64 bits).
MAX_BUCKETS = 2**31


def check_max_points(max_points: int | None) -> None:
    """``None`` (everything) or an integer of at least 2 (a low and a high point)."""
    if max_points is None:
        return
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise InvalidInputError(
            f"Invalid value {max_points!r} for 'max_points': give an integer of at least 2"
        )


def downsample(history: Sequence[Metric], max_points: int | None) -> list[Metric]:
    """``history`` (in its order) when it has at most ``max_points`` points, else its step
    range (time range when it has fewer distinct steps than intervals) cut into
    ``max_points // 2`` equal intervals, each giving the point of its lowest and of its highest
    value (a NaN only when the interval holds nothing else)."""
    total = len(history)
    if max_points is None or total <= max_points:
        return list(history)
    buckets = max(1, min(max_points // 2, MAX_BUCKETS))
    steps = [m.step for m in history]
    times = [m.timestamp for m in history]
    s0, s1, t0, t1 = min(steps), max(steps), min(times), max(times)
    by_step = s1 - s0 + 1 >= min(total, buckets)
    low: dict[int, int] = {}
    high: dict[int, int] = {}
    for i, m in enumerate(history):
        # Exact integers, as the SQL stores compute it.
        if by_step:
            bucket = (m.step - s0) * buckets // (s1 - s0 + 1)
        else:
            bucket = (m.timestamp - t0) * buckets // (t1 - t0 + 1)
        if m.value != m.value:  # NaN: kept only for an interval of NaNs
            low.setdefault(bucket, i)
            high.setdefault(bucket, i)
            continue
        lo, hi = low.get(bucket), high.get(bucket)
        if lo is None or history[lo].value != history[lo].value or m.value < history[lo].value:
            low[bucket] = i
        if hi is None or history[hi].value != history[hi].value or m.value > history[hi].value:
            high[bucket] = i
    return [history[i] for i in sorted({*low.values(), *high.values()})]
