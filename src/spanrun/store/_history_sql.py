"""Metric histories read in SQL, whole or down-sampled, for one run or many at once.

Down-sampling keeps a history's shape without sending every point: the history's step range
is cut into ``max_points // 2`` equal intervals (its time range when it has fewer distinct steps
than that, e.g. everything logged at step 0) and each interval gives the point of its lowest and
of its highest value, so spikes stay visible. It runs in the database: first each history's
length and step and time range (from the index alone), then, per long history, one GROUP BY per
extreme (SQLite: bare columns; PostgreSQL: DISTINCT ON) with that history's constants. A
100,000-point history costs two indexed scans, not 100,000 rows sent to Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on

from spanrun.core.entities import Metric
from spanrun.store import _models as m
from spanrun.store._downsample import MAX_BUCKETS
from spanrun.store._llm_calls import call_column

__all__ = [
    "MAX_HISTORY_KEYS",
    "MAX_HISTORY_RUNS",
    "Series",
    "full_query",
    "rows_by",
    "sampled_queries",
    "series_query",
]

#: Bounds of one bulk request (the compare page asks for at most 100 runs).
MAX_HISTORY_RUNS = 1000
MAX_HISTORY_KEYS = 100
#: Long histories sampled per statement (SQLite allows 500 terms in a compound SELECT).
_SERIES_PER_STATEMENT = 100
_INT64_MAX = 2**63 - 1


def _points(
    run_ids: Sequence[str], keys: Sequence[str], pairs: Sequence[tuple[str, str]] | None = None
) -> sa.CompoundSelect[Any] | sa.Select[Any]:
    """Every point of those runs' histories of those keys (only ``pairs`` of (run, key) when
    given), with the columns that order a history: step, timestamp, source, id."""
    mc = m.metrics.c
    main = sa.select(
        mc.run_id,
        mc.key,
        mc.value,
        mc.is_nan,
        mc.timestamp,
        mc.step,
        sa.literal(0).label("source"),
        mc.id,
    ).where(mc.run_id.in_(list(run_ids)), mc.key.in_(list(keys)))
    if pairs is not None:
        main = main.where(sa.tuple_(mc.run_id, mc.key).in_(list(pairs)))
    parts: list[sa.Select[Any]] = [main]
    cc = m.llm_calls.c
    for key in keys:
        column = call_column(key)
        if column is None:
            continue
        value = cc[column]  # an LLM call metric: the calls' values too (_llm_calls.py)
        runs = [r for r, k in pairs if k == key] if pairs is not None else list(run_ids)
        if not runs:
            continue
        parts.append(
            sa.select(
                cc.run_id,
                sa.literal(key, sa.String).label("key"),
                value,
                sa.false(),
                cc.timestamp,
                cc.step,
                sa.literal(1),
                cc.id,
            ).where(cc.run_id.in_(runs), value.is_not(None))
        )
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


def full_query(
    run_ids: Sequence[str], keys: Sequence[str], pairs: Sequence[tuple[str, str]] | None = None
) -> sa.Select[Any]:
    """``(run_id, key, value, is_nan, timestamp, step, source, id)`` of every point, each
    history in its order."""
    points = _points(run_ids, keys, pairs).subquery("points")
    p = points.c
    return sa.select(points).order_by(p.run_id, p.key, p.step, p.timestamp, p.source, p.id)


@dataclass(frozen=True)
class Series:
    """One history's extent: its length and its step and time ranges."""

    run_id: str
    key: str
    total: int
    s0: int
    s1: int
    t0: int
    t1: int


def series_query(run_ids: Sequence[str], keys: Sequence[str]) -> sa.Select[Any]:
    """One row per history: ``(run_id, key, total, s0, s1, t0, t1)`` (a :class:`Series`)."""
    points = _points(run_ids, keys).subquery("points")
    p = points.c
    return sa.select(
        p.run_id,
        p.key,
        sa.func.count(),
        sa.func.min(p.step),
        sa.func.max(p.step),
        sa.func.min(p.timestamp),
        sa.func.max(p.timestamp),
    ).group_by(p.run_id, p.key)


def _bucket(series: Series, buckets: int, step: Any, timestamp: Any, dialect: str) -> Any:
    """The interval of a point of ``series``: integer arithmetic when it cannot overflow."""
    by_step = series.s1 - series.s0 + 1 >= min(series.total, buckets)
    column, low, width = (
        (step, series.s0, series.s1 - series.s0 + 1)
        if by_step
        else (timestamp, series.t0, series.t1 - series.t0 + 1)
    )
    if (width - 1) * buckets <= _INT64_MAX:
        # Non-negative integers: division truncates on both databases, as int() in Python.
        # The same float formula as the Python fallback where both are exact (< 2**53).
        return (column - low) * buckets // width
    scaled = sa.cast(column - low, sa.Float) / float(width) * buckets
    return sa.cast(scaled, sa.BigInteger) if dialect == "sqlite" else sa.func.floor(scaled)


# SQLite, a history bucketed by step: each interval is a range of the metrics index, and its
# lowest and highest point are found by one aggregate each over that range (SQLite's bare
# columns: with a single min() or max(), ``id`` comes from the row holding it, the first such
# row in index order, i.e. by step, timestamp, id). An interval of NaNs only (stored as NULL)
# gives its first point. This reads each point twice but sorts nothing: about half the time of
# a GROUP BY per extreme over 100,000 points, and of an ORDER BY value LIMIT 1 per interval.
_RANGE = 'run_id = :run AND "key" = :key AND step >= r.lo AND step < r.hi'
_STEP_RANGES_SQL = f"""
WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < :last),
r(lo, hi) AS (SELECT :s0 + (i * :w + :n - 1) / :n, :s0 + ((i + 1) * :w + :n - 1) / :n FROM b),
picks(id) AS (
  SELECT COALESCE(
    (SELECT CASE WHEN min(value) IS NULL THEN NULL ELSE id END FROM metrics WHERE {_RANGE}),
    (SELECT id FROM metrics WHERE {_RANGE} ORDER BY step, timestamp, id LIMIT 1)
  ) FROM r
  UNION
  SELECT (SELECT CASE WHEN max(value) IS NULL THEN NULL ELSE id END FROM metrics WHERE {_RANGE})
  FROM r
)
SELECT run_id, "key", value, is_nan, timestamp, step, 0 AS source, id
FROM metrics WHERE id IN (SELECT id FROM picks WHERE id IS NOT NULL)
"""


def _step_ranges(series: Series, buckets: int) -> sa.TextClause | None:
    """:data:`_STEP_RANGES_SQL` for ``series`` when it applies (SQLite, a plain metric bucketed
    by step, bounds within 64 bits), else None."""
    width = series.s1 - series.s0 + 1
    if (
        call_column(series.key) is not None
        or width < min(series.total, buckets)
        or width * (buckets + 1) > _INT64_MAX
        or abs(series.s0) + width > _INT64_MAX // 2
    ):
        return None
    return sa.text(_STEP_RANGES_SQL).bindparams(
        last=buckets - 1, s0=series.s0, w=width, n=buckets, run=series.run_id, key=series.key
    )


def sampled_queries(
    long_series: Sequence[Series], max_points: int, dialect: str
) -> list[sa.CompoundSelect[Any] | sa.TextClause]:
    """Statements giving :func:`full_query`'s columns for the lowest and highest point of each
    interval of each of ``long_series``."""
    buckets = max(1, min(max_points // 2, MAX_BUCKETS))
    statements: list[sa.CompoundSelect[Any] | sa.TextClause] = []
    grouped = []
    for series in long_series:
        ranged = _step_ranges(series, buckets) if dialect == "sqlite" else None
        if ranged is None:
            grouped.append(series)
        else:
            statements.append(ranged)
    for start in range(0, len(grouped), _SERIES_PER_STATEMENT):
        parts: list[sa.Select[Any]] = []
        for series in grouped[start : start + _SERIES_PER_STATEMENT]:
            points = _points([series.run_id], [series.key]).subquery()
            p = points.c
            bucket = _bucket(series, buckets, p.step, p.timestamp, dialect).label("bucket")
            if dialect == "sqlite":
                # SQLite's bare columns: with one MIN() or MAX(), they come from its row.
                for pick in (sa.func.min, sa.func.max):
                    parts.append(
                        sa.select(
                            p.run_id,
                            p.key,
                            pick(p.value).label("value"),
                            p.is_nan,
                            p.timestamp,
                            p.step,
                            p.source,
                            p.id,
                        ).group_by(bucket)
                    )
                continue
            for ascending in (True, False):
                order = (p.value.asc() if ascending else p.value.desc()).nulls_last()
                parts.append(
                    sa.select(
                        p.run_id, p.key, p.value, p.is_nan, p.timestamp, p.step, p.source, p.id
                    )
                    .ext(distinct_on(bucket))
                    .order_by(bucket, order, p.step, p.timestamp, p.source, p.id)
                )
        # Each part in parentheses: PostgreSQL's DISTINCT ON needs its own ORDER BY.
        statements.append(sa.union_all(*(part.subquery().select() for part in parts)))
    return statements


def rows_by(
    rows: Any, totals: dict[tuple[str, str], int] | None = None, *, ordered: bool = False
) -> dict[str, dict[str, tuple[list[Metric], int]]]:
    """``{run_id: {key: (points, total)}}`` from :func:`full_query` rows (``ordered``: each
    history's rows in order, as ``full_query`` gives them). Otherwise sorted here, a point
    picked twice (lowest and highest of its interval) kept once. ``total`` from ``totals``,
    else the number of points."""
    out: dict[str, dict[str, tuple[list[Metric], int]]] = {}
    if ordered:
        lists: dict[tuple[str, str], list[Metric]] = {}
        for run_id, key, value, is_nan, timestamp, step, _, _ in rows:
            found = lists.get((run_id, key))
            if found is None:
                found = lists[(run_id, key)] = []
            value = math.nan if is_nan or value is None else float(value)
            found.append(Metric(key=key, value=value, timestamp=timestamp, step=step))
        for (run_id, key), points in lists.items():
            total = totals[(run_id, key)] if totals is not None else len(points)
            out.setdefault(run_id, {})[key] = (points, total)
        return out
    picked: dict[tuple[str, str], dict[tuple[int, int], tuple[Any, ...]]] = {}
    for run_id, key, value, is_nan, timestamp, step, source, row_id in rows:
        picked.setdefault((run_id, key), {})[(source, row_id)] = (
            step,
            timestamp,
            source,
            row_id,
            value,
            is_nan,
        )
    for (run_id, key), chosen in picked.items():
        points = [
            Metric(
                key=key,
                value=math.nan if is_nan or value is None else float(value),
                timestamp=timestamp,
                step=step,
            )
            for step, timestamp, _, _, value, is_nan in sorted(chosen.values(), key=lambda r: r[:4])
        ]
        total = totals[(run_id, key)] if totals is not None else len(points)
        out.setdefault(run_id, {})[key] = (points, total)
    return out
