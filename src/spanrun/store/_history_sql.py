"""Metric histories read in SQL, whole or down-sampled, for one run or many at once.

Down-sampling keeps a history's shape without sending every point: the history's step range
is cut into ``max_points // 2`` equal intervals (its time range when it has fewer distinct steps
than that, e.g. everything logged at step 0) and each interval gives the point of its lowest and
of its highest value, so spikes stay visible. It runs in the database as one GROUP BY per
extreme (SQLite: bare columns; PostgreSQL: DISTINCT ON): a 100,000-point history costs two
indexed scans, not 100,000 rows sent to Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on

from spanrun.core.entities import Metric
from spanrun.store import _models as m
from spanrun.store._downsample import check_max_points
from spanrun.store._llm_calls import call_column

__all__ = ["MAX_HISTORY_KEYS", "MAX_HISTORY_RUNS", "check_max_points", "history_query", "rows_by"]

#: Bounds of one bulk request (the compare page asks for at most 100 runs).
MAX_HISTORY_RUNS = 1000
MAX_HISTORY_KEYS = 100


def _points(run_ids: Sequence[str], keys: Sequence[str]) -> sa.CompoundSelect[Any] | sa.Select[Any]:
    """Every point of those runs' histories of those keys, with a tie-breaking order."""
    mc = m.metrics.c
    parts: list[sa.Select[Any]] = [
        sa.select(
            mc.run_id,
            mc.key,
            mc.value,
            mc.is_nan,
            mc.timestamp,
            mc.step,
            sa.literal(0).label("source"),
            mc.id,
        ).where(mc.run_id.in_(list(run_ids)), mc.key.in_(list(keys)))
    ]
    cc = m.llm_calls.c
    for key in keys:
        column = call_column(key)
        if column is None:
            continue
        value = cc[column]  # an LLM call metric: the calls' values too (_llm_calls.py)
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
            ).where(cc.run_id.in_(list(run_ids)), value.is_not(None))
        )
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


def history_query(
    run_ids: Sequence[str], keys: Sequence[str], max_points: int | None, dialect: str
) -> sa.CompoundSelect[Any] | sa.Select[Any]:
    """``(run_id, key, value, is_nan, timestamp, step, total, source, id)`` rows of those runs'
    histories of those keys, in no particular order (:func:`rows_by` orders them); ``total``
    is the history's full length. With ``max_points``, a longer history is down-sampled (see
    the module docstring): at most ``2 * (max_points // 2)`` points."""
    points = _points(run_ids, keys).subquery("points")
    p = points.c
    if max_points is None:
        return sa.select(
            p.run_id,
            p.key,
            p.value,
            p.is_nan,
            p.timestamp,
            p.step,
            sa.func.count().over(partition_by=(p.run_id, p.key)).label("total"),
            p.source,
            p.id,
        )
    series = (
        sa.select(
            p.run_id,
            p.key,
            sa.func.min(p.step).label("s0"),
            sa.func.max(p.step).label("s1"),
            sa.func.min(p.timestamp).label("t0"),
            sa.func.max(p.timestamp).label("t1"),
            sa.func.count().label("total"),
        )
        .group_by(p.run_id, p.key)
        .cte("series")
    )
    s = series.c
    joined = points.join(series, sa.and_(s.run_id == p.run_id, s.key == p.key))
    columns = (p.run_id, p.key, p.value, p.is_nan, p.timestamp, p.step, s.total, p.source, p.id)
    whole = sa.select(*columns).select_from(joined).where(s.total <= max_points)
    buckets = max(1, max_points // 2)
    # Equal intervals of steps; of time when the steps are too few to tell points apart (a
    # history logged at step 0). Floats, so that no product overflows 64 bits.
    by_step = (
        s.s1 - s.s0 + 1 >= sa.func.min(s.total, buckets)
        if dialect == "sqlite"
        else (s.s1 - s.s0 + 1 >= sa.func.least(s.total, buckets))
    )
    fraction = sa.case(
        (by_step, sa.cast(p.step - s.s0, sa.Float) / sa.cast(s.s1 - s.s0 + 1, sa.Float)),
        else_=sa.cast(p.timestamp - s.t0, sa.Float) / sa.cast(s.t1 - s.t0 + 1, sa.Float),
    )
    scaled = fraction * buckets
    bucket = (
        sa.cast(scaled, sa.BigInteger) if dialect == "sqlite" else sa.func.floor(scaled)
    ).label("bucket")
    large = s.total > max_points
    parts: list[sa.Select[Any]] = [whole]
    if dialect == "sqlite":
        # SQLite's bare columns: with one MIN() or MAX(), they come from the row holding it.
        for pick in (sa.func.min, sa.func.max):
            parts.append(
                sa.select(
                    p.run_id,
                    p.key,
                    pick(p.value).label("value"),
                    p.is_nan,
                    p.timestamp,
                    p.step,
                    s.total,
                    p.source,
                    p.id,
                )
                .select_from(joined)
                .where(large)
                .group_by(p.run_id, p.key, bucket)
            )
    else:
        for ascending in (True, False):
            value_order = p.value.asc() if ascending else p.value.desc()
            parts.append(
                sa.select(*columns)
                .select_from(joined)
                .where(large)
                .ext(distinct_on(p.run_id, p.key, bucket))
                .order_by(p.run_id, p.key, bucket, value_order.nulls_last(), p.step, p.id)
            )
    return sa.union_all(*parts)


def rows_by(rows: Any) -> dict[str, dict[str, tuple[list[Metric], int]]]:
    """``{run_id: {key: (points, total)}}`` from :func:`history_query` rows, each history in
    its order (step, timestamp, insertion) and a point picked twice (lowest and highest of
    its bucket) once."""
    found: dict[tuple[str, str], dict[tuple[int, int], tuple[Any, ...]]] = {}
    totals: dict[tuple[str, str], int] = {}
    for run_id, key, value, is_nan, timestamp, step, total, source, row_id in rows:
        series = (run_id, key)
        totals[series] = int(total)
        found.setdefault(series, {})[(source, row_id)] = (
            step,
            timestamp,
            source,
            row_id,
            value,
            is_nan,
        )
    out: dict[str, dict[str, tuple[list[Metric], int]]] = {}
    for (run_id, key), picked in found.items():
        points = [
            Metric(
                key=key,
                value=math.nan if is_nan or value is None else float(value),
                timestamp=timestamp,
                step=step,
            )
            for step, timestamp, _, _, value, is_nan in sorted(picked.values(), key=lambda r: r[:4])
        ]
        out.setdefault(run_id, {})[key] = (points, totals[(run_id, key)])
    return out
