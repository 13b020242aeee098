"""Artifact previews (tables, text, JSON/YAML, images) and downloads of one run's files.

Every path from the request goes through ``spanrun.artifacts.normalize_artifact_path`` and the
repository's own checks: a path leaving the run's artifact root is a 400. Previews read at most
``PREVIEW_BYTES``; the rest is one click away as a download, so a huge file never hangs a tab.
Downloads are attachments (images excepted, served with their type for ``<img>``), under a
sandboxing Content-Security-Policy, so a logged HTML or SVG file cannot run in the UI's origin.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from spanrun.artifacts import ArtifactRepository, get_artifact_repository, normalize_artifact_path
from spanrun.errors import InvalidInputError, NotFoundError, SpanrunError
from spanrun.store import Store
from spanrun.ui._render import page

__all__ = ["PREVIEW_BYTES", "Preview", "artifact_file", "preview_page", "read_preview", "table_of"]

PREVIEW_BYTES = 256 * 1024
MAX_PREVIEW_ROWS = 1000
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}
DOWNLOAD_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


@dataclass
class Preview:
    """What a preview page shows of one file."""

    kind: str  # table, text, json, image, binary, empty, unavailable
    size: int
    truncated: bool = False
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    more_rows: bool = False


def _file_size(repo: ArtifactRepository, path: str) -> int:
    parent = posixpath.dirname(path)
    for entry in repo.list_artifacts(parent or None):
        if entry.path == path and not entry.is_dir:
            return entry.file_size or 0
    raise NotFoundError(f"No artifact file {path!r}")


def _head(repo: ArtifactRepository, path: str, size: int, limit: int) -> bytes | None:
    """The first ``limit`` bytes of a file, without reading the rest of a big one (None when
    that cannot be done)."""
    if size <= limit:
        return repo.read_bytes(path)
    # The repositories have no ranged read: the file's handle reads a slice (the file exists,
    # so the handle creates nothing; it is held only for this read). A read-only artifact
    # store cannot give that handle: then no preview, the download link stays.
    try:
        with repo.locked(path) as handle:
            return handle.read(0, limit)
    except SpanrunError:
        return None


def table_of(document: Any) -> tuple[list[str], list[list[Any]]] | None:
    """Columns and rows of a ``log_table`` file (``{"columns": [...], "data": [[...]]}``)."""
    if not isinstance(document, dict):
        return None
    columns, data = document.get("columns"), document.get("data")
    if not isinstance(columns, list) or not isinstance(data, list):
        return None
    if not all(isinstance(row, list) for row in data):
        return None
    return [str(c) for c in columns], data


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def read_preview(repo: ArtifactRepository, path: str, limit: int = PREVIEW_BYTES) -> Preview:
    """Read the head of ``path`` and decide how to show it."""
    size = _file_size(repo, path)
    extension = posixpath.splitext(path)[1].lower()
    if extension in IMAGE_TYPES:
        return Preview("image", size)
    data = _head(repo, path, size, limit)
    if data is None:
        return Preview("unavailable", size, truncated=True)
    truncated = size > len(data)
    if not data:
        return Preview("empty", size)
    if b"\x00" in data[:8192]:
        return Preview("binary", size, truncated)
    text = data.decode("utf-8", errors="replace")
    if truncated:  # a cut multi-byte character or line is not shown as data
        text = text[: text.rfind("\n") + 1] or text
    preview = Preview("text", size, truncated, text=text)
    if extension in (".csv", ".tsv"):
        lines = io.StringIO(text)
        reader = csv.reader(lines, delimiter="\t" if extension == ".tsv" else ",")
        try:
            header = next(reader, [])
            rows: list[list[str]] = []
            for row in reader:
                if len(rows) >= MAX_PREVIEW_ROWS:
                    preview.more_rows = True
                    break
                rows.append(row)
        except csv.Error:
            return preview
        preview.kind, preview.columns, preview.rows = "table", header, rows
    elif extension == ".json" and not truncated:
        try:
            document = json.loads(text)
        except ValueError:
            return preview
        table = table_of(document)
        if table is not None:
            preview.kind, preview.columns = "table", table[0]
            preview.rows = [[_cell(v) for v in row] for row in table[1][:MAX_PREVIEW_ROWS]]
            preview.more_rows = len(table[1]) > MAX_PREVIEW_ROWS
        else:
            preview.kind = "json"
            preview.text = json.dumps(document, indent=2, ensure_ascii=False)
    elif extension in (".yaml", ".yml"):
        preview.kind = "json"  # shown as it is, in the same monospaced block
    return preview


def _checked_path(request: Request) -> str:
    path = normalize_artifact_path(request.query_params.get("path", ""))
    if not path:
        raise InvalidInputError("Give the artifact's 'path'")
    return path


def preview_page(store: Store, request: Request, run_id: str) -> Response:
    """A preview of the run's artifact ``?path=``."""
    run = store.get_run(run_id)
    path = _checked_path(request)
    repo = get_artifact_repository(run.info.artifact_uri)
    preview = read_preview(repo, path)
    return page(
        "artifact.html",
        title=path,
        run=run,
        path=path,
        preview=preview,
        limit=PREVIEW_BYTES,
    )


def artifact_file(store: Store, request: Request, run_id: str) -> Response:
    """The file itself: images inline with their type, everything else as an attachment."""
    run = store.get_run(run_id)
    path = _checked_path(request)
    repo = get_artifact_repository(run.info.artifact_uri)
    _file_size(repo, path)  # a directory or a missing file is a 404 before any copy
    workdir = tempfile.mkdtemp(prefix="spanrun-ui-")
    try:
        local = repo.download_artifacts(path, workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    name = posixpath.basename(path)
    media_type = IMAGE_TYPES.get(posixpath.splitext(name)[1].lower())
    disposition = "inline" if media_type else "attachment"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
    headers = {
        "Content-Disposition": f'{disposition}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(name, safe='')}",
        "Content-Security-Policy": DOWNLOAD_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return FileResponse(
        local,
        media_type=media_type or "application/octet-stream",
        headers=headers,
        background=BackgroundTask(shutil.rmtree, workdir, ignore_errors=True),
    )
