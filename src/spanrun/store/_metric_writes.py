"""Writing metric values: the SQL store's hot path (every ``log_metric`` ends here).

Values arrive as ``(key, value, timestamp_ms, step)`` tuples. On SQLite they are written with
multi-row ``INSERT ... VALUES (...), (...)`` statements of up to 500 rows. ``executemany``
would release and re-take the GIL for every row, and each re-take waits for whatever Python
thread holds it (the user's logging loop, during asynchronous logging): a few statements per
batch keep the writer from stalling, and the rows are inserted inside SQLite with the GIL
released. NaN is bound as NULL (SQLite stores NaN as NULL anyway) and flagged ``is_nan``.

PostgreSQL binds rows with ``executemany`` (psycopg pipelines them in one round trip).
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from spanrun.core.entities import Metric
from spanrun.errors import InvalidInputError
from spanrun.store._common import checked_key

if TYPE_CHECKING:
    from spanrun.store._db import Database

__all__ = ["MetricRow", "MetricWriter", "metric_row"]

#: (key, value, timestamp_ms, step), already validated.
MetricRow = tuple[str, float, int, int]

_INT64 = 2**63
_COLUMNS = ["run_id", "key", "value", "timestamp", "step", "is_nan"]
# Bound parameters per statement: SQLite before 3.32 allows 999, later 32766.
_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_ROWS_PER_STATEMENT = min(512, (_MAX_VARIABLES - 1) // 4)
_INSERT = 'INSERT INTO metrics (run_id, "key", value, "timestamp", step, is_nan) VALUES '
# Keep the value with the greatest (step, timestamp); ties go to the newest. Also where the
# latest value is recomputed from the metrics history: an LLM call's metrics (_calls.py) may
# have set a newer one.
_ON_CONFLICT_NEWER = (
    'ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value, '
    '"timestamp" = excluded."timestamp", step = excluded.step, is_nan = excluded.is_nan '
    "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
    'AND excluded."timestamp" >= latest_metrics."timestamp")'
)
_UPSERT_LATEST = (
    'INSERT INTO latest_metrics (run_id, "key", value, "timestamp", step, is_nan) VALUES {} '
    + _ON_CONFLICT_NEWER
)

# A key's latest value recomputed from its history (the index's last entry): one statement per
# key instead of comparing every row of a large batch in Python, with the GIL held.
_LATEST_FROM_HISTORY = (
    'INSERT INTO latest_metrics (run_id, "key", value, "timestamp", step, is_nan) '
    'SELECT run_id, "key", value, "timestamp", step, is_nan FROM metrics '
    'WHERE run_id = ? AND "key" = ? ORDER BY step DESC, "timestamp" DESC, id DESC LIMIT 1 '
    + _ON_CONFLICT_NEWER
)
_FEW_KEYS = 8  # a batch this many times larger than its key count uses _LATEST_FROM_HISTORY

# Many runs at once (export batches): the run id in every row, 5 parameters per row.
_RUNS_ROWS_PER_STATEMENT = min(512, (_MAX_VARIABLES - 1) // 5)
# _LATEST_FROM_HISTORY for many (run_id, key) pairs in one statement: each pair's last history
# entry by (step, timestamp, id), found with the (run_id, key, step, timestamp) index. Equal to
# merging the batch's latest rows into the stored ones, without per-row work in Python.
_LATEST_OF_PAIRS = (
    'INSERT INTO latest_metrics (run_id, "key", value, "timestamp", step, is_nan) '
    'SELECT m.run_id, m."key", m.value, m."timestamp", m.step, m.is_nan FROM (VALUES {}) AS k '
    "JOIN metrics m ON m.id = (SELECT id FROM metrics WHERE run_id = k.column1 "
    'AND "key" = k.column2 ORDER BY step DESC, "timestamp" DESC, id DESC LIMIT 1) '
    "WHERE true " + _ON_CONFLICT_NEWER  # needed before ON CONFLICT after a SELECT (SQLite's parser)
)
_PAIRS_PER_STATEMENT = min(512, (_MAX_VARIABLES - 1) // 2)


def metric_row(metric: Metric) -> MetricRow:
    """A Metric as a row, with a typed error for what the database could not store."""
    checked_key(metric.key, "metric")
    try:
        value = float(metric.value)
        timestamp = int(metric.timestamp)
        step = int(metric.step)
        if not (-_INT64 <= timestamp < _INT64 and -_INT64 <= step < _INT64):
            raise OverflowError
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(
            f"Invalid metric {metric.key!r}: value {metric.value!r}, timestamp "
            f"{metric.timestamp!r} and step {metric.step!r} must be numbers (64-bit integers "
            "for timestamp and step)"
        ) from None
    return (metric.key, value, timestamp, step)


def _values(rows: int) -> str:
    """``(?1, ?2, ?3, ?4, ?5, ?3 IS NULL), ...``: ?1 is the run id, then 4 values per row."""
    return ",".join(
        f"(?1,?{i},?{i + 1},?{i + 2},?{i + 3},?{i + 1} IS NULL)" for i in range(2, 4 * rows, 4)
    )


# Cached: the same str object each time also lets sqlite3 reuse the prepared statement cheaply.
@functools.lru_cache(maxsize=16)
def _insert_sql(rows: int) -> str:
    return _INSERT + _values(rows)


@functools.lru_cache(maxsize=16)
def _upsert_sql(rows: int) -> str:
    return _UPSERT_LATEST.format(_values(rows))


@functools.lru_cache(maxsize=16)
def _latest_pairs_sql(pairs: int) -> str:
    return _LATEST_OF_PAIRS.format(",".join(["(?,?)"] * pairs))


def _statements(count: int, most: int) -> int:
    """How many statements :func:`_pieces` makes of ``count`` rows."""
    return count // most + (count % most).bit_count()


def _runs_values(rows: int) -> str:
    """``(?1, ?2, ?3, ?4, ?5, ?3 IS NULL), ...``: run id, key, value, timestamp, step."""
    return ",".join(
        f"(?{i},?{i + 1},?{i + 2},?{i + 3},?{i + 4},?{i + 2} IS NULL)"
        for i in range(1, 5 * rows, 5)
    )


@functools.lru_cache(maxsize=16)
def _insert_runs_sql(rows: int) -> str:
    return _INSERT + _runs_values(rows)


@functools.lru_cache(maxsize=16)
def _upsert_runs_sql(rows: int) -> str:
    """:data:`_UPSERT_LATEST` with the run id in every row (several runs, one key each)."""
    return _UPSERT_LATEST.format(_runs_values(rows))


def _pieces(count: int, most: int = _ROWS_PER_STATEMENT) -> Iterable[tuple[int, int]]:
    """(start, size) slices: full statements, then powers of two (few distinct statements)."""
    start = 0
    size = most
    while start < count:
        while size > count - start:
            size //= 2
        yield start, size
        start += size


def latest_by_key(rows: Sequence[MetricRow]) -> list[MetricRow]:
    """Each key's row with the greatest (step, timestamp); ties go to the later row."""
    best: dict[str, MetricRow] = {}
    for row in rows:
        old = best.get(row[0])
        if old is None or row[3] > old[3] or (row[3] == old[3] and row[2] >= old[2]):
            best[row[0]] = row
    return list(best.values())


class MetricWriter:
    """Writes metric rows of one run inside a store's write transaction."""

    def __init__(self, db: Database | Any) -> None:
        """``db``: anything with a ``dialect``; a PostgreSQL one is the store's ``Database``."""
        self.sqlite = db.dialect == "sqlite"
        if not self.sqlite:  # SQLite uses the hand-written statements above
            self._insert, self._upsert_latest = _postgres_statements(db)

    def write_runs(self, cursor: Any, runs: dict[str, Sequence[MetricRow]]) -> None:
        """:meth:`write` for several runs in fewer statements (each re-takes the GIL once).

        On SQLite the latest values of all runs are one statement; the history rows of all
        runs share statements when that makes fewer of them (the run id is then bound in every
        row, about 10% more binding work, so large per-run groups keep their own).
        """
        if not self.sqlite:
            for run_id, rows in runs.items():
                self.write(cursor, run_id, rows)
            return
        count = sum(len(rows) for rows in runs.values())
        if not count:
            return
        most = _ROWS_PER_STATEMENT
        shared = _RUNS_ROWS_PER_STATEMENT
        if _statements(count, shared) < sum(_statements(len(r), most) for r in runs.values()):
            # (run_id, key, value, timestamp, step) for every row, built with slice
            # assignments (no per-row Python).
            flat: list[Any] = [None] * (5 * count)
            at = 0
            for run_id, rows in runs.items():
                n = len(rows)
                values = list(itertools.chain.from_iterable(rows))
                end = at + 5 * n
                flat[at:end:5] = [run_id] * n
                for column in range(4):
                    flat[at + 1 + column : end : 5] = values[column::4]
                at = end
            for start, size in _pieces(count, shared):
                cursor.execute(_insert_runs_sql(size), flat[5 * start : 5 * (start + size)])
        else:
            chain = itertools.chain.from_iterable
            for run_id, rows in runs.items():
                for start, size in _pieces(len(rows)):
                    cursor.execute(_insert_sql(size), [run_id, *chain(rows[start : start + size])])
        pairs = [
            item
            for run_id, rows in runs.items()
            for key in {r[0] for r in rows}
            for item in (run_id, key)
        ]
        for start, size in _pieces(len(pairs) // 2, _PAIRS_PER_STATEMENT):
            cursor.execute(_latest_pairs_sql(size), pairs[2 * start : 2 * (start + size)])

    def upsert_latest(self, cursor: Any, runs: Mapping[str, Sequence[MetricRow]]) -> None:
        """Make ``runs``' rows (at most one per key and run) the latest values where they are
        not older than the stored ones; no history rows."""
        rows = [(run_id, *row) for run_id, latest in runs.items() for row in latest]
        if not self.sqlite:
            cursor.executemany(
                self._upsert_latest,
                [(r, k, None if v != v else v, ts, s, v != v) for r, k, v, ts, s in rows],
            )
            return
        chain = itertools.chain.from_iterable
        for start, size in _pieces(len(rows), _RUNS_ROWS_PER_STATEMENT):
            cursor.execute(_upsert_runs_sql(size), list(chain(rows[start : start + size])))

    def write(self, cursor: Any, run_id: str, rows: Sequence[MetricRow]) -> None:
        """Append ``rows`` to the history and update the run's latest values."""
        if self.sqlite:
            chain = itertools.chain.from_iterable
            for start, size in _pieces(len(rows)):
                cursor.execute(_insert_sql(size), [run_id, *chain(rows[start : start + size])])
            if len(rows) >= 64:
                keys = {row[0] for row in rows}
                if len(keys) * _FEW_KEYS <= len(rows):
                    for key in keys:
                        cursor.execute(_LATEST_FROM_HISTORY, (run_id, key))
                    return
            latest = latest_by_key(rows) if len(rows) > 1 else rows
            for start, size in _pieces(len(latest)):
                cursor.execute(_upsert_sql(size), [run_id, *chain(latest[start : start + size])])
            return
        latest = latest_by_key(rows) if len(rows) > 1 else rows
        full = [(run_id, k, None if v != v else v, ts, s, v != v) for k, v, ts, s in rows]
        cursor.executemany(self._insert, full)
        cursor.executemany(
            self._upsert_latest,
            [(run_id, k, None if v != v else v, ts, s, v != v) for k, v, ts, s in latest],
        )


def _postgres_statements(db: Database) -> tuple[str, str]:
    """The history insert and latest-value upsert, compiled by SQLAlchemy for PostgreSQL."""
    # Imported here: SQLite writers (the autolog default) never load SQLAlchemy for this.
    import sqlalchemy as sa

    from spanrun.store import _models as m

    insert = db.compile_positional(sa.insert(m.metrics), _COLUMNS)
    ins = db.insert(m.latest_metrics)
    lm = m.latest_metrics.c
    upsert = db.compile_positional(
        ins.on_conflict_do_update(
            index_elements=[lm.run_id, lm.key],
            set_={c: ins.excluded[c] for c in ("value", "timestamp", "step", "is_nan")},
            where=sa.or_(
                ins.excluded.step > lm.step,
                sa.and_(ins.excluded.step == lm.step, ins.excluded.timestamp >= lm.timestamp),
            ),
        ),
        _COLUMNS,
    )
    return insert, upsert
