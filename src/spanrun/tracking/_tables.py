"""log_table / load_table: tables stored as pandas "split" JSON artifacts.

A table file is ``{"columns":[...],"data":[[...],...]}`` (as ``DataFrame.to_json(orient="split",
index=False)``). Logging again to the same file appends rows. In the common case the new rows
are written over the file's closing ``]}`` under an exclusive lock, so an append costs the new
rows only, not a rewrite of the table; a file in any other layout (e.g. written by MLflow with
an index) is rewritten once, atomically, in the compact layout.

Columns of appended rows must be the stored columns (in any order); otherwise
TableSchemaError is raised and the stored table is left untouched. Each table is registered in
the run tag ``mlflow.loggedArtifacts`` as ``{"path": ..., "type": "table"}``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from spanrun.core.vocabulary import LOGGED_ARTIFACTS_TAG
from spanrun.errors import InvalidInputError, NotFoundError, SpanrunError, TableSchemaError

if TYPE_CHECKING:
    import pandas as pd

    from spanrun.artifacts import ArtifactFileHandle, ArtifactRepository
    from spanrun.core.entities import Run
    from spanrun.tracking.client import SpanrunClient

__all__ = ["load_table", "log_table"]

_log = logging.getLogger(__name__)

_PREFIX = b'{"columns":'
_DATA_KEY = b',"data":['
_HEAD_CHUNK = 64 * 1024


def _dumps(value: Any) -> str:
    # ASCII-only JSON: always valid UTF-8, even for lone surrogates pandas may emit.
    return json.dumps(value, separators=(",", ":"))


def _to_split(data: Any) -> tuple[list[str], list[list[Any]]]:
    """Columns and JSON-ready rows of a dict of columns or a DataFrame."""
    if isinstance(data, Mapping):
        fast = _dict_of_lists(data)
        if fast is not None:
            return fast
    import pandas as pd

    if isinstance(data, Mapping):
        try:
            frame = pd.DataFrame(dict(data))
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"log_table: cannot make a table of the dict: {exc}") from None
    elif isinstance(data, pd.DataFrame):
        frame = data
    else:
        raise InvalidInputError(
            f"log_table takes a dict of columns or a pandas DataFrame, got {type(data).__name__}"
        )
    if frame.columns.has_duplicates:
        raise InvalidInputError("log_table: the table has duplicate column names")
    # Not DataFrame.to_json: it rounds floats to at most 15 digits; json keeps them exact.
    split = frame.to_dict(orient="split", index=False)
    rows = [[_json_ready(value) for value in row] for row in split["data"]]
    return [str(c) for c in split["columns"]], rows


def _dict_of_lists(data: Mapping[Any, Any]) -> tuple[list[str], list[list[Any]]] | None:
    """The common case without pandas: str keys mapping to equally long lists of plain values.

    None when anything else is involved, so pandas decides (and errs) exactly as MLflow's
    ``pd.DataFrame(data)`` would.
    """
    columns = list(data)
    values = list(data.values())
    if not columns or not all(isinstance(c, str) for c in columns):
        return None
    if not all(type(v) in (list, tuple) for v in values):
        return None
    length = len(values[0])
    if any(len(v) != length for v in values):
        return None
    plain = (str, int, float, bool, type(None))
    if not all(type(x) in plain for v in values for x in v):
        return None
    rows = [[_json_ready(x) for x in row] for row in zip(*values, strict=True)]
    return columns, rows


def _json_ready(value: Any) -> Any:
    """A JSON-serializable form of one cell (NaN, NaT and infinities become null)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    import numpy as np
    import pandas as pd

    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.ndarray):
        return [_json_ready(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _json_ready(value.item())
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _reorder(
    artifact_file: str, stored: list[str], columns: list[str], rows: list[list[Any]]
) -> list[list[Any]]:
    """Rows in the stored column order; TableSchemaError when the column sets differ."""
    if stored == columns:
        return rows
    if sorted(stored) != sorted(columns):
        raise TableSchemaError(
            f"Cannot append to table {artifact_file!r}: its columns are {stored}, "
            f"the new rows have {columns}"
        )
    order = [columns.index(c) for c in stored]
    return [[row[i] for i in order] for row in rows]


def _read_head(handle: ArtifactFileHandle, size: int) -> tuple[list[str], int] | None:
    """Columns and the offset just past ``"data":[`` when the file has the compact layout."""
    decoder = json.JSONDecoder()
    length = min(size, _HEAD_CHUNK)
    while True:
        head = handle.read(0, length)
        if not head.startswith(_PREFIX):
            return None
        text = head.decode("utf-8", errors="replace")
        try:
            columns, end = decoder.raw_decode(text, len(_PREFIX))
        except json.JSONDecodeError:
            if length >= size:
                return None
            length = min(size, length * 4)
            continue
        if not isinstance(columns, list) or not text[:end].isascii():
            return None  # offsets below are byte offsets: only valid for ASCII heads
        if head[end : end + len(_DATA_KEY)] != _DATA_KEY:
            return None
        return [str(c) for c in columns], end + len(_DATA_KEY)


def _append_in_place(
    handle: ArtifactFileHandle, artifact_file: str, columns: list[str], rows: list[list[Any]]
) -> bool:
    """Append by overwriting the closing ``]}``; False when the file has another layout."""
    size = handle.size()
    head = _read_head(handle, size)
    if head is None or size < 3:
        return False
    stored, data_start = head
    tail = handle.read(size - 3, 3)
    if size == data_start + 2 and tail.endswith(b"]}"):
        separator = b""  # the data array is still empty
    elif tail == b"]]}":
        separator = b","
    else:
        return False
    rows = _reorder(artifact_file, stored, columns, rows)
    if not rows:
        return True
    chunk = separator + _dumps(rows)[1:-1].encode("ascii") + b"]}"
    try:
        handle.write_at(size - 2, chunk)
    except SpanrunError:
        # Put the table back as it was (a full disk may have cut the write short).
        with contextlib.suppress(Exception):
            handle.truncate(size)
            handle.write_at(size - 2, b"]}")
        raise
    return True


def _parse_table(content: bytes, artifact_file: str) -> tuple[list[str], list[list[Any]]]:
    try:
        table = json.loads(content)
        columns, rows = table["columns"], table["data"]
        if not isinstance(columns, list) or not isinstance(rows, list):
            raise TypeError("columns and data must be lists")
    except (ValueError, TypeError, KeyError) as exc:
        raise TableSchemaError(
            f"Artifact {artifact_file!r} is not a table in pandas 'split' JSON: {exc}"
        ) from None
    return [str(c) for c in columns], rows


def _write_rows(
    repo: ArtifactRepository, artifact_file: str, columns: list[str], rows: list[list[Any]]
) -> None:
    with repo.locked(artifact_file) as handle:
        if handle.size() == 0:
            try:
                handle.append(_dumps({"columns": columns, "data": rows}).encode("ascii"))
            except SpanrunError:
                with contextlib.suppress(Exception):
                    handle.truncate(0)  # an empty file reads as "no table yet"
                raise
            return
        if _append_in_place(handle, artifact_file, columns, rows):
            return
        stored, existing = _parse_table(handle.read(), artifact_file)
        merged = existing + _reorder(artifact_file, stored, columns, rows)
        handle.replace(_dumps({"columns": stored, "data": merged}).encode("ascii"))


# (tracking URI, run id, file) already registered by this process: repeated appends to a table
# then skip reading the run. Bounded: cleared when full.
_registered: set[tuple[str, str, str]] = set()
_REGISTERED_MAX = 10_000


def _register(client: SpanrunClient, run_id: str, artifact_file: str) -> None:
    key = (client.tracking_uri, run_id, artifact_file)
    if key in _registered:
        return
    tags = client.get_run(run_id).data.tags
    entries: list[Any] = []
    with contextlib.suppress(ValueError, TypeError):
        parsed = json.loads(tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
        if isinstance(parsed, list):
            entries = parsed
    entry = {"path": artifact_file, "type": "table"}
    if entry not in entries:
        client.set_tag(
            run_id, LOGGED_ARTIFACTS_TAG, json.dumps([*entries, entry]), synchronous=True
        )
    if len(_registered) >= _REGISTERED_MAX:
        _registered.clear()
    _registered.add(key)


def log_table(client: SpanrunClient, data: Any, artifact_file: str, run_id: str) -> None:
    """Log ``data`` (dict of columns or DataFrame) as, or append it to, ``artifact_file``."""
    from spanrun.artifacts import get_artifact_repository

    columns, rows = _to_split(data)
    repo = get_artifact_repository(client.get_artifact_uri(run_id))
    _write_rows(repo, artifact_file, columns, rows)
    _register(client, run_id, artifact_file)


def _has_table(run: Run, artifact_file: str) -> bool:
    try:
        entries = json.loads(run.data.tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
    except ValueError:
        return False
    return isinstance(entries, list) and {"path": artifact_file, "type": "table"} in entries


def _runs_with_table(
    client: SpanrunClient, artifact_file: str, experiment_ids: Sequence[str] | None
) -> list[Run]:
    if experiment_ids is None:
        experiment_ids = [e.experiment_id for e in _all_pages(client.search_experiments)]
    if not experiment_ids:
        return []
    # A coarse LIKE narrows the search in the store; the exact check is done on the JSON.
    coarse = f"tags.`{LOGGED_ARTIFACTS_TAG}` LIKE '%\"table\"%'"
    runs = _all_pages(lambda **kw: client.search_runs(list(experiment_ids), coarse, **kw))
    return [run for run in runs if _has_table(run, artifact_file)]


def _all_pages(search: Any) -> list[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = search(max_results=1000, page_token=token)
        items.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return items


def _extra_values(runs: Sequence[Run], extra: list[str]) -> dict[str, dict[str, Any]]:
    """``{run_id: {column: value}}`` for columns of ``search_runs``' DataFrame (``run_id``,
    ``status``, ``start_time``, ``metrics.<key>``, ``params.<key>``, ``tags.<key>``, ...)."""
    from spanrun.tracking._runs_frame import runs_to_frame

    frame = runs_to_frame(runs)
    unknown = [c for c in extra if c not in frame.columns]
    if unknown:
        raise InvalidInputError(
            f"Unknown extra_columns {unknown}: use columns of search_runs' DataFrame, such as "
            f"run_id, experiment_id, status, start_time, metrics.<key>, params.<key>, "
            f"tags.<key> (these runs have: {list(frame.columns)})"
        )
    indexed = frame.set_index("run_id", drop=False)[extra].to_dict("index")
    return {str(run_id): {str(c): v for c, v in row.items()} for run_id, row in indexed.items()}


def load_table(
    client: SpanrunClient,
    artifact_file: str,
    run_ids: Sequence[str] | None = None,
    extra_columns: Sequence[str] | None = None,
    experiment_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One DataFrame of ``artifact_file`` over ``run_ids`` (default: every run of
    ``experiment_ids`` that logged it; all experiments when None).

    ``extra_columns`` adds columns of ``search_runs``' DataFrame, e.g. ``["run_id"]``; a name
    the table already has gets a trailing ``_`` (as in MLflow). Runs without the table are
    skipped; NotFoundError when no run has it.
    """
    import pandas as pd

    from spanrun.artifacts import get_artifact_repository

    extra = list(dict.fromkeys(extra_columns or []))
    if run_ids is None:
        runs = _runs_with_table(client, artifact_file, experiment_ids)
    else:
        if isinstance(run_ids, str):
            run_ids = [run_ids]
        runs = [client.get_run(run_id) for run_id in dict.fromkeys(run_ids)]
    extras = _extra_values(runs, extra) if extra and runs else {}
    frames = []
    for run in runs:
        repo = get_artifact_repository(run.info.artifact_uri)
        try:
            content = repo.read_bytes(artifact_file)
        except NotFoundError:
            continue  # like MLflow: runs without the table contribute nothing
        if not content:
            continue  # created by a first write that failed: no table yet
        try:
            columns, rows = _parse_table(content, artifact_file)
        except TableSchemaError:
            # Possibly caught mid-append (readers take no lock): read again under the lock.
            with repo.locked(artifact_file) as handle:
                content = handle.read()
            columns, rows = _parse_table(content, artifact_file)
        try:
            frame = pd.DataFrame(rows, columns=columns)
        except (ValueError, TypeError) as exc:
            raise TableSchemaError(
                f"Table {artifact_file!r} of run {run.info.run_id}: {exc}"
            ) from None
        for name in extra:
            column = name
            while column in frame.columns:
                column += "_"
            if column != name:
                _log.warning(
                    "Column %r already exists in table %r; the extra column is named %r",
                    name,
                    artifact_file,
                    column,
                )
            frame[column] = extras[run.info.run_id][name]
        frames.append(frame)
    if not frames:
        raise NotFoundError(f"No run has a table named {artifact_file!r}")
    # Annotated: pandas-stubs 3 (Python >= 3.11) types concat as Any when mypy checks for 3.10.
    table: pd.DataFrame = pd.concat(frames, ignore_index=True)
    return table
