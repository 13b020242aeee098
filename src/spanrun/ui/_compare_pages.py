"""Compare runs (diff tables, overlaid charts, parallel coordinates) and their predictions
side by side (one row per input, one column per run)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from spanrun.artifacts import get_artifact_repository, normalize_artifact_path
from spanrun.core.entities import Run
from spanrun.core.vocabulary import PREDICTIONS_FILE
from spanrun.errors import InvalidInputError, NotFoundError, SpanrunError
from spanrun.store import Store
from spanrun.ui._artifact_pages import table_of
from spanrun.ui._http import int_param
from spanrun.ui._render import number_text, page
from spanrun.ui._text_filter import BoundedPattern, PatternTimeoutError

__all__ = [
    "TextMatcher",
    "compare_page",
    "diff_rows",
    "diff_table",
    "group_predictions",
    "predictions_page",
]

MAX_RUNS = 100
PREDICTIONS_BYTES = 20 * 1024 * 1024
MAX_GROUPS = 500
#: Per-run columns shown under each output, when the file has them.
DETAIL_COLUMNS = (
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "cost_usd",
    "error",
)


def _runs(store: Store, request: Request, least: int) -> list[Run]:
    ids = list(dict.fromkeys(i for i in request.query_params.getlist("run") if i))
    if len(ids) < least:
        raise InvalidInputError(f"Select at least {least} run{'s' if least > 1 else ''}")
    if len(ids) > MAX_RUNS:
        raise InvalidInputError(f"Select at most {MAX_RUNS} runs (got {len(ids)})")
    return store.get_runs(ids)  # one query per table, not one get_run per run


@dataclass(frozen=True)
class DiffRow:
    key: str
    values: list[Any]
    differs: bool


def diff_rows(values_by_run: Sequence[dict[str, Any]]) -> list[DiffRow]:
    """One row per key of any run; ``differs`` when the runs do not all hold the same value."""
    keys = sorted({k for values in values_by_run for k in values})
    rows = []
    for key in keys:
        values = [values.get(key) for values in values_by_run]
        rows.append(DiffRow(key, values, len({repr(v) for v in values}) > 1))
    return rows


def _cell(value: Any) -> str | None:
    """A table cell as text (None: the run has no such key)."""
    if value is None:
        return None
    return number_text(value) if isinstance(value, float) else str(value)


def diff_table(rows: Sequence[DiffRow]) -> dict[str, Any]:
    """``rows`` as the compare page's script builds its table from them: keys, which differ,
    and one list of cell texts per key (null where a run has none). Column-wise and once: the
    parallel coordinates and the scatter read the same lists."""
    return {
        "keys": [row.key for row in rows],
        "differs": [row.differs for row in rows],
        "cells": [[_cell(v) for v in row.values] for row in rows],
    }


def compare_page(store: Store, request: Request) -> Response:
    """``?run=<id>`` 2 to 100 times: overlaid charts, diff tables, parallel coordinates,
    scatter. The tables come as compact JSON the script turns into rows (a fifth of the
    HTML they would take), after it has asked for the charts' histories."""
    runs = _runs(store, request, 2)
    params = diff_rows([r.data.params for r in runs])
    metrics = diff_rows([r.data.metrics for r in runs])
    metric_keys = [row.key for row in metrics]
    return page(
        "compare.html",
        title=f"Compare {len(runs)} runs",
        runs=runs,
        params=params,
        metrics=metrics,
        metric_keys=metric_keys,
        axes=[f"param:{row.key}" for row in params if row.differs]
        + [f"metric:{row.key}" for row in metrics],
        all_axes=[f"metric:{row.key}" for row in metrics] + [f"param:{row.key}" for row in params],
        data={
            "runs": [r.info.run_id for r in runs],
            "names": {r.info.run_id: r.info.run_name or r.info.run_id for r in runs},
            "params": diff_table(params),
            "metrics": diff_table(metrics),
        },
    )


@dataclass
class PredictionTable:
    """One run's prediction rows (a CSV or ``log_table`` file), or why it has none."""

    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    problem: str = ""
    truncated: bool = False


def _read_table(run: Run, path: str) -> PredictionTable:
    repo = get_artifact_repository(run.info.artifact_uri)
    try:
        data = repo.read_bytes(path)
    except NotFoundError:
        return PredictionTable(problem=f"no {path}")
    except SpanrunError as exc:
        return PredictionTable(problem=str(exc))
    truncated = len(data) > PREDICTIONS_BYTES
    text = data[:PREDICTIONS_BYTES].decode("utf-8", errors="replace")
    if path.lower().endswith(".json"):
        try:
            table = table_of(json.loads(text))
        except ValueError:
            table = None
        if table is None:
            return PredictionTable(problem=f"{path} is not a log_table file")
        columns, data_rows = table
        rows = [
            {c: "" if v is None else str(v) for c, v in zip(columns, row, strict=False)}
            for row in data_rows
        ]
        return PredictionTable(columns, rows)
    if truncated:
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    try:
        rows = [dict(row) for row in reader]
    except csv.Error as exc:
        return PredictionTable(problem=f"{path} is not a CSV file: {exc}")
    return PredictionTable(list(reader.fieldnames or []), rows, truncated=truncated)


@dataclass
class PredictionGroup:
    """One input: each run's rows for it (several when a run answered it several times)."""

    key: str
    cells: list[list[dict[str, str]]]
    differs: bool


class TextMatcher(Protocol):
    """What filters predictions: a compiled ``re`` pattern or a ``BoundedPattern``."""

    def search(self, text: str) -> object: ...


def group_predictions(
    tables: Sequence[PredictionTable], group_by: str, output: str, pattern: TextMatcher | None
) -> list[PredictionGroup]:
    """Rows of every run grouped by their ``group_by`` value, in first-seen order."""
    order: dict[str, list[list[dict[str, str]]]] = {}
    for index, table in enumerate(tables):
        for row in table.rows:
            key = row.get(group_by, "")
            cells = order.setdefault(key, [[] for _ in tables])
            cells[index].append(row)
    groups = []
    for key, cells in order.items():
        if pattern is not None:
            texts = [key, *(row.get(output, "") for rows in cells for row in rows)]
            if not any(pattern.search(t) for t in texts):
                continue
        outputs = {row.get(output, "") for rows in cells for row in rows}
        missing = any(not rows for rows in cells)
        groups.append(PredictionGroup(key, cells, len(outputs) > 1 or missing))
    return groups


def predictions_page(store: Store, request: Request) -> Response:
    """``?run=<id>...``: the runs' prediction rows by input (``file``, ``group_by``, ``output``,
    ``q`` with ``regex``, ``diff`` for differing rows only, ``limit``)."""
    runs = _runs(store, request, 1)
    q = request.query_params
    path = normalize_artifact_path(q.get("file") or PREDICTIONS_FILE)
    tables = [_read_table(run, path) for run in runs]
    columns = list(dict.fromkeys(c for t in tables for c in t.columns))
    group_by = q.get("group_by") or ("inputs" if "inputs" in columns or not columns else columns[0])
    output = q.get("output") or ("outputs" if "outputs" in columns or not columns else columns[-1])
    text = q.get("q", "")
    regex = q.get("regex") == "1"
    pattern: BoundedPattern | None = None
    error = ""
    if text:
        try:
            pattern = BoundedPattern(text, regex)
        except InvalidInputError as exc:
            error = exc.message
    limit = int_param(request, "limit", MAX_GROUPS, 1, 5000)
    only_diff = q.get("diff") == "1"
    try:
        groups = group_predictions(tables, group_by, output, pattern)
    except PatternTimeoutError as exc:  # shown unfiltered, with the reason
        error = exc.message
        groups = group_predictions(tables, group_by, output, None)
    if only_diff:
        groups = [g for g in groups if g.differs]
    details = [c for c in DETAIL_COLUMNS if c in columns]
    return page(
        "predictions.html",
        title="Predictions side by side",
        runs=runs,
        tables=tables,
        path=path,
        columns=columns,
        group_by=group_by,
        output=output,
        text=text,
        regex=regex,
        only_diff=only_diff,
        error=error,
        groups=groups[:limit],
        total_groups=len(groups),
        details=details,
    )
