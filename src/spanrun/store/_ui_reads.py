"""The reads the web UI needs, each one SQL query (per table): runs by id, metric histories of
many runs and keys (down-sampled in the database), run counts and an experiment's distinct
keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.core.entities import Metric, Run, ViewType
from spanrun.core.text import bad_character
from spanrun.errors import InvalidInputError, NotFoundError
from spanrun.store import _models as m
from spanrun.store._common import chunks, experiment_key
from spanrun.store._db import Database
from spanrun.store._downsample import check_max_points
from spanrun.store._history_sql import (
    MAX_HISTORY_KEYS,
    MAX_HISTORY_RUNS,
    Series,
    full_query,
    rows_by,
    sampled_queries,
    series_query,
)
from spanrun.store._run_load import RUN_COLUMNS, load_runs
from spanrun.store._search_filter import parse_filter
from spanrun.store._search_sql import lifecycle_condition, run_count_query
from spanrun.store.base import MetricHistory, RunKeys

__all__ = ["MAX_RUNS_AT_ONCE", "UiReadMethods"]

#: Runs one ``get_runs`` call may ask for.
MAX_RUNS_AT_ONCE = 1000


def _experiment_keys(experiment_ids: Sequence[str]) -> list[int]:
    if isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    return [k for k in (experiment_key(e) for e in experiment_ids) if k is not None]


def _strings(what: str, values: Sequence[str], limit: int) -> list[str]:
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise InvalidInputError(f"'{what}' must be a list of strings")
    unique = list(dict.fromkeys(values))
    if len(unique) > limit:
        raise InvalidInputError(f"At most {limit} {what} at once, got {len(unique)}")
    return unique


def _storable_runs(run_ids: Sequence[str]) -> None:
    """No stored run has an id with a NUL or a lone surrogate (PostgreSQL would refuse it)."""
    for run_id in run_ids:
        if bad_character(run_id) is not None:
            raise NotFoundError(f"Run {run_id!r} not found")


class UiReadMethods:
    """Mixed into ``SqlAlchemyStore`` (which provides ``_db``, ``dialect`` and ``_run_row``)."""

    _db: Database
    dialect: str

    def _run_row(self, conn: sa.Connection, run_id: str) -> sa.Row[Any]:
        raise NotImplementedError  # SqlAlchemyStore's

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        run_ids = _strings("run_ids", run_ids, MAX_RUNS_AT_ONCE)
        _storable_runs(run_ids)
        if not run_ids:
            return []

        def read(conn: sa.Connection) -> list[Run]:
            rows = {
                row.run_id: row
                for chunk in chunks(run_ids)
                for row in conn.execute(sa.select(*RUN_COLUMNS).where(m.runs.c.run_id.in_(chunk)))
            }
            missing = next((r for r in run_ids if r not in rows), None)
            if missing is not None:
                raise NotFoundError(f"Run {missing!r} not found")
            # Params, tags, latest metrics and inputs: one query per table for all the runs.
            return load_runs(conn, self.dialect, [rows[r] for r in run_ids])

        return self._db.read(read)

    def _histories(
        self,
        conn: sa.Connection,
        run_ids: Sequence[str],
        keys: Sequence[str],
        max_points: int | None,
    ) -> dict[str, dict[str, tuple[list[Metric], int]]]:
        if max_points is None:
            return rows_by(conn.execute(full_query(run_ids, keys)), ordered=True)
        extents = [Series(*row) for row in conn.execute(series_query(run_ids, keys))]
        totals = {(s.run_id, s.key): s.total for s in extents}
        short = [(s.run_id, s.key) for s in extents if s.total <= max_points]
        # Only the short histories' runs and keys: with a long history's key in the IN list,
        # the index range would take in its 100,000 rows, only for the pair filter to drop them.
        short_runs = list(dict.fromkeys(r for r, _ in short))
        short_keys = list(dict.fromkeys(k for _, k in short))
        found = (
            rows_by(conn.execute(full_query(short_runs, short_keys, short)), totals, ordered=True)
            if short
            else {}
        )
        long_series = [s for s in extents if s.total > max_points]
        for stmt in sampled_queries(long_series, max_points, self.dialect):
            for run_id, per_key in rows_by(conn.execute(stmt), totals).items():
                found.setdefault(run_id, {}).update(per_key)
        return found

    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = None
    ) -> list[Metric]:
        check_max_points(max_points)
        _storable_runs([run_id])
        if bad_character(key) is not None:  # no stored key holds one
            return []

        def history(conn: sa.Connection) -> list[Metric]:
            self._run_row(conn, run_id)
            found = self._histories(conn, [run_id], [key], max_points).get(run_id, {}).get(key)
            return found[0] if found else []

        return self._db.read(history)

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], max_points: int | None = None
    ) -> list[MetricHistory]:
        check_max_points(max_points)
        run_ids = _strings("run_ids", run_ids, MAX_HISTORY_RUNS)
        keys = _strings("keys", keys, MAX_HISTORY_KEYS)
        _storable_runs(run_ids)
        keys = [k for k in keys if bad_character(k) is None]  # no stored key holds one
        if not run_ids or not keys:
            return []
        known_stmt = sa.select(m.runs.c.run_id).where(m.runs.c.run_id.in_(run_ids))

        def histories(conn: sa.Connection) -> dict[str, dict[str, tuple[list[Metric], int]]]:
            known = set(conn.execute(known_stmt).scalars())
            missing = [r for r in run_ids if r not in known]
            if missing:
                self._run_row(conn, missing[0])  # raises NotFoundError
            return self._histories(conn, run_ids, keys, max_points)

        found = self._db.read(histories)
        out = []
        for run_id in run_ids:
            per_run = found.get(run_id, {})
            for key in keys:
                if key in per_run:
                    points, total = per_run[key]
                    out.append(MetricHistory(run_id, key, points, total))
        return out

    def count_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    ) -> int:
        stmt = run_count_query(
            _experiment_keys(experiment_ids),
            parse_filter(filter_string, "run"),
            run_view_type,
            self.dialect,
        )
        return int(self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    def distinct_keys(
        self,
        experiment_ids: Sequence[str],
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    ) -> RunKeys:
        runs = m.runs.c
        chosen = sa.select(runs.run_id).where(
            runs.experiment_id.in_(_experiment_keys(experiment_ids))
        )
        stage = lifecycle_condition(runs.lifecycle_stage, run_view_type)
        if stage is not None:
            chosen = chosen.where(stage)
        count = sa.select(sa.func.count()).select_from(chosen.subquery())

        def read(conn: sa.Connection) -> RunKeys:
            few = conn.execute(count).scalar_one() <= FEW_RUNS
            return RunKeys(
                *(
                    list(conn.execute(_keys_query(table, chosen, few)).scalars())
                    for table in (m.params, m.latest_metrics, m.tags)
                )
            )

        return self._db.read(read)


#: Up to this many runs, distinct_keys reads their rows; above, it walks the distinct keys.
FEW_RUNS = 2000


def _keys_query(table: sa.Table, chosen: sa.Select[Any], few_runs: bool) -> sa.Select[Any]:
    """The distinct keys of ``table`` among the ``chosen`` runs, sorted.

    For a few runs, their rows (found by run_id). For many, the table's distinct keys are
    walked on its (key, ...) index, one lookup per key (a loose index scan as a recursive
    query), and each is kept if one of its rows belongs to a chosen run: at 10,000 runs of 40
    keys this reads about one row per key instead of 400,000.
    """
    if few_runs:
        return (
            sa.select(table.c.key)
            .where(table.c.run_id.in_(chosen))
            .distinct()
            .order_by(table.c.key)
        )
    first = sa.select(sa.func.min(table.c.key).label("key")).cte("walk", recursive=True)
    following = table.alias("following")
    walk = first.union_all(
        sa.select(
            sa.select(sa.func.min(following.c.key))
            .where(following.c.key > first.c.key)
            .scalar_subquery()
        ).where(first.c.key.is_not(None))
    )
    owned = table.alias("owned")
    has_run = (
        sa.select(owned.c.key).where(owned.c.key == walk.c.key, owned.c.run_id.in_(chosen)).exists()
    )
    return sa.select(walk.c.key).where(walk.c.key.is_not(None), has_run).order_by(walk.c.key)
