"""A page of runs as ``Run`` objects: their params, tags and latest metrics in one statement.

A search reads its page of run rows (:data:`RUN_COLUMNS`) first; :func:`load_runs` then reads
the data of all of them at once, one statement per 250 runs, on the DBAPI cursor of the same
read transaction (SQLAlchemy Row objects would cost more than the query for these ~10 small
rows per run). Dataset inputs, which few runs have, are read only for the runs that have any.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.core.entities import Run, RunData, RunInfo
from spanrun.store import _models as m
from spanrun.store._common import chunks
from spanrun.store._inputs import read_inputs

__all__ = ["RUN_COLUMNS", "load_runs"]

_runs = m.runs.c
#: The run columns a search selects, in the order of ``RunInfo``'s fields.
RUN_COLUMNS = (
    _runs.run_id,
    _runs.experiment_id,
    _runs.run_name,
    _runs.status,
    _runs.start_time,
    _runs.end_time,
    _runs.artifact_uri,
    _runs.lifecycle_stage,
    _runs.user_id,
)

_PARAM, _TAG, _METRIC, _INPUTS = range(4)
# Four IN lists of this many ids bind 1,000 values: within what any SQLite build takes.
_CHUNK = 250


def _data_sql(count: int, dialect: str) -> str:
    """Rows ``(kind, run_id, key, text value, metric value)`` of ``count`` runs' data.

    A metric's value is NULL when it is NaN (the stores keep NaN so); a run with dataset inputs
    has one ``_INPUTS`` row. PostgreSQL takes the ids as one array, SQLite as ``count`` values.
    """
    ids = "run_id = ANY(%s)" if dialect == "postgresql" else f"run_id IN ({','.join('?' * count)})"
    # Typed NULLs: PostgreSQL types a column of a UNION from its first branches.
    text, number = "CAST(NULL AS TEXT)", "CAST(NULL AS DOUBLE PRECISION)"
    return (
        f'SELECT {_PARAM}, run_id, "key", value, {number} FROM params WHERE {ids} '
        f'UNION ALL SELECT {_TAG}, run_id, "key", value, {number} FROM tags WHERE {ids} '
        f'UNION ALL SELECT {_METRIC}, run_id, "key", {text}, value FROM latest_metrics '
        f"WHERE {ids} "
        f"UNION ALL SELECT DISTINCT {_INPUTS}, run_id, {text}, {text}, {number} "
        f"FROM run_inputs WHERE {ids}"
    )


def load_runs(conn: sa.Connection, dialect: str, rows: Sequence[Sequence[Any]]) -> list[Run]:
    """``Run`` objects, in the order of ``rows`` (run rows of :data:`RUN_COLUMNS`)."""
    ids = [row[0] for row in rows]
    params: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    tags: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    metrics: dict[str, dict[str, float]] = {run_id: {} for run_id in ids}
    with_inputs: list[str] = []
    cursor: Any = conn.connection.cursor()
    try:
        for chunk in chunks(ids, _CHUNK):
            args = [list(chunk)] * 4 if dialect == "postgresql" else list(chunk) * 4
            cursor.execute(_data_sql(len(chunk), dialect), args)
            for kind, run_id, key, text, number in cursor.fetchall():
                if kind == _METRIC:
                    metrics[run_id][key] = math.nan if number is None else float(number)
                elif kind == _PARAM:
                    params[run_id][key] = text
                elif kind == _TAG:
                    tags[run_id][key] = text
                else:
                    with_inputs.append(run_id)
    finally:
        cursor.close()
    inputs = read_inputs(conn, with_inputs) if with_inputs else {}
    runs = []
    for row in rows:
        run_id = row[0]
        info = RunInfo(run_id, str(row[1]), *row[2:])
        data = RunData(metrics[run_id], params[run_id], tags[run_id])
        found = inputs.get(run_id)
        runs.append(Run(info, data) if found is None else Run(info, data, found))
    return runs
