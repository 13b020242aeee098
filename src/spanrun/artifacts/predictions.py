"""Prediction files: rows appended to a run's ``llm_predictions.csv`` (MLflow's layout).

``spanrun.llm.log_predictions`` writes the columns ``inputs,outputs,prompts``; autologging
writes the same file with more columns (``spanrun.core.vocabulary``), both through
:func:`append_prediction_rows`.

The file is UTF-8 CSV written by the :mod:`csv` module (``\\r\\n`` line ends, fields with
commas, quotes or line breaks quoted); dicts and lists are stored as JSON. To read the cells
back exactly as written, use ``pandas.read_csv(path, dtype=str, keep_default_na=False)``
(plain ``read_csv`` turns numbers into numbers and empty cells into NaN).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from spanrun.core.vocabulary import PREDICTIONS_FILE
from spanrun.errors import InvalidInputError, TableSchemaError

if TYPE_CHECKING:
    from spanrun.artifacts._repository import ArtifactFileHandle, ArtifactRepository

__all__ = ["append_prediction_rows", "encode_prediction_rows"]

_HEAD_CHUNK = 8 * 1024
#: A prediction row: a dict keyed by column, or a list (or tuple) of cells in column order.
Row = Mapping[str, Any] | Sequence[Any]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _cells(row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    return [v if type(v := row.get(c)) is str else _cell(v) for c in columns]


def _records(rows: Sequence[Row], names: list[str], header: list[str]) -> list[list[str]]:
    """The rows' cells in the file's column order ``header`` (which holds all of ``names``)."""
    same = header == names
    position = {name: i for i, name in enumerate(names)}
    picks = [position.get(column) for column in header]
    records: list[list[str]] = []
    for row in rows:
        if not isinstance(row, (list, tuple)):
            records.append(_cells(cast(Mapping[str, Any], row), header))
        elif same:
            # Autolog's rows: lists of text in the file's order (hot path; _cell only for others)
            records.append([v if type(v) is str else _cell(v) for v in row])
        else:
            records.append(["" if i is None else _cell(row[i]) for i in picks])
    return records


def _csv_line(row: Sequence[str]) -> str:
    """One record as ``csv.writer`` (the default "excel" dialect) writes it, without the line
    terminator: a cell holding a comma, a quote or a line break is quoted, its quotes doubled;
    a record of one empty cell is ``""`` (else it would read as no cell at all)."""
    if len(row) == 1 and row[0] == "":
        return '""'
    # One expression, no call per cell: this is the hot part.
    return ",".join(
        [
            c
            if not ("," in c or '"' in c or "\n" in c or "\r" in c)
            else '"' + c.replace('"', '""') + '"'
            for c in row
        ]
    )


def _encode(rows: Sequence[Sequence[str]]) -> bytes:
    """The CSV bytes of ``rows`` (cells of text), byte for byte what ``csv.writer`` writes
    (a test checks it) at less than half its cost: it runs per LLM call on the exporter's
    mapping thread, where csv's per-character scan was a sixth of the work."""
    lines = [_csv_line(row) for row in rows]
    lines.append("")
    # A lone surrogate (from a broken decode upstream) is written escaped rather than
    # failing the batch or making the file invalid UTF-8.
    return "\r\n".join(lines).encode("utf-8", errors="backslashreplace")


def encode_prediction_rows(rows: Sequence[Sequence[Any]]) -> bytes:
    """The CSV bytes :func:`append_prediction_rows` writes for ``rows`` (lists of cells in
    column order) when the file's header is their columns; pass them as its ``encoded``."""
    if set(map(type, rows)) <= {list, tuple} and set(
        map(type, itertools.chain.from_iterable(rows))
    ) <= {str}:
        return _encode(rows)  # autolog's rows: text already (one pass in C to tell)
    return _encode([[v if type(v) is str else _cell(v) for v in row] for row in rows])


def _check_columns(columns: Sequence[str]) -> list[str]:
    names = list(columns)
    if not names or not all(isinstance(c, str) and c for c in names):
        raise InvalidInputError(f"Prediction columns must be non-empty strings, got {names!r}")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"Prediction columns must be unique, got {names!r}")
    if any("\n" in c or "\r" in c for c in names):
        raise InvalidInputError("Prediction column names must not contain line breaks")
    return names


def _read_header(handle: ArtifactFileHandle, size: int) -> list[str]:
    """The first CSV record (header names never hold line breaks)."""
    length = min(size, _HEAD_CHUNK)
    while True:
        head = handle.read(0, length)
        end = head.find(b"\n")
        if end >= 0 or length >= size:
            line = head if end < 0 else head[:end]
            text = line.decode("utf-8-sig", errors="replace").rstrip("\r")
            return next(csv.reader([text]), [])
        length = min(size, length * 4)


def _append_or_undo(handle: ArtifactFileHandle, size: int, body: bytes) -> None:
    """Append ``body``; on failure cut the file back, so a retry cannot leave a torn row."""
    try:
        handle.append(body)
    except Exception:
        with contextlib.suppress(Exception):
            handle.truncate(size)
        raise


def append_prediction_rows(
    repo: ArtifactRepository,
    rows: Sequence[Row],
    columns: Sequence[str],
    artifact_file: str = PREDICTIONS_FILE,
    *,
    encoded: bytes | None = None,
) -> None:
    """Append ``rows`` in one write.

    A row is a dict keyed by ``columns`` (missing keys give empty cells) or a list (or tuple)
    with one cell per column, in ``columns`` order. The header is written when the file is new.
    When the file's header already holds all of ``columns``, rows follow the file's column
    order. Otherwise the file is rewritten once, atomically, with the union of the columns (old
    rows get empty new cells).

    ``encoded``, the rows' :func:`encode_prediction_rows` bytes, is written as it is when the
    file is new or its header is ``columns``: the autolog exporter encodes on its mapping thread
    so that its writer thread, the slower one, only appends.
    """
    names = _check_columns(columns)
    known = set(names)
    for row in rows:
        if isinstance(row, (list, tuple)):
            if len(row) != len(names):
                raise InvalidInputError(
                    f"Prediction row has {len(row)} cells for {len(names)} columns: {row!r}"
                )
            continue
        if not isinstance(row, Mapping):
            raise InvalidInputError(
                f"Prediction rows must be dicts or lists, got {type(row).__name__}"
            )
        extra = [k for k in row if k not in known]
        if extra:
            raise InvalidInputError(f"Prediction row has keys not in columns: {extra}")
    if not rows:
        return
    with repo.locked(artifact_file) as handle:
        size = handle.size()
        if size == 0:
            if encoded is None:
                encoded = _encode(_records(rows, names, names))
            _append_or_undo(handle, size, _encode([names]) + encoded)
            return
        header = _read_header(handle, size)
        if not header or len(set(header)) != len(header):
            raise TableSchemaError(f"{artifact_file!r} has no usable CSV header: {header!r}")
        if known.issubset(header):
            if encoded is None or header != names:
                encoded = _encode(_records(rows, names, header))
            body = encoded
            if handle.read(size - 1, 1) != b"\n":
                body = b"\r\n" + body  # a file edited by hand may lack the final line break
            _append_or_undo(handle, size, body)
            return
        # Rare path: new columns. Rewrite everything with the union, atomically.
        union = header + [c for c in names if c not in header]
        text = handle.read().decode("utf-8-sig", errors="replace")
        old = list(csv.reader(io.StringIO(text, newline="")))[1:]
        padding = [""] * (len(union) - len(header))
        records = [union, *(record + padding for record in old)]
        records += _records(rows, names, union)
        handle.replace(_encode(records))
