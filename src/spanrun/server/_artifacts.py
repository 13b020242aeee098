"""Artifacts: MLflow's proxied artifact API and ``/api/2.0/mlflow/artifacts/list``.

``/api/2.0/mlflow-artifacts/artifacts/<path>`` (as ``mlflow server --serve-artifacts``):
``PUT`` uploads the request body to ``<path>``, ``GET`` downloads it, ``DELETE`` removes a file
or folder, and ``GET /api/2.0/mlflow-artifacts/artifacts?path=<folder>`` lists a folder.
``<path>`` is relative to the server's artifact root (``<experiment_id>/<run_id>/artifacts/...``
for a run's files) and is refused (400) when it could leave the root in any form: ``..``,
percent-encoded or double-encoded ``..``, backslashes, absolute paths, ``#``, ``?``, control
characters, and symlinks leading outside.

Downloads are sent as attachments with ``nosniff`` and, for types a browser would run (HTML,
SVG, JavaScript, XML), as ``text/plain``: logged content never executes on the server's origin.
Uploads are streamed to a temporary file in the root, then moved into place atomically.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from spanrun.artifacts import (
    LocalArtifactRepository,
    normalize_untrusted_path,
    resolve_under,
)
from spanrun.errors import InvalidInputError, NotFoundError
from spanrun.server._context import ServerContext
from spanrun.server._errors import exception_response
from spanrun.server._params import Params
from spanrun.server._routing import Handler, json_response
from spanrun.server._wire import file_info_json

__all__ = ["ARTIFACTS_PATH", "ARTIFACT_LIST_ROUTES", "artifact_proxy_routes"]

ARTIFACTS_PATH = "/api/2.0/mlflow-artifacts/artifacts"
_PROXY_PREFIXES = (ARTIFACTS_PATH, "/ajax-api/2.0/mlflow-artifacts/artifacts")
# Folder for uploads in progress: the repository's listings skip this prefix.
_UPLOAD_PREFIX = ".spanrun-tmp-upload-"
_ACTIVE_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "application/javascript",
    "text/javascript",
    "text/xml",
    "application/xml",
}


def _safe_media_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None:
        return "application/octet-stream"
    if guessed in _ACTIVE_TYPES:
        return "text/plain"
    return guessed


def _file_path(ctx: ServerContext, raw: str) -> tuple[str, str]:
    """``(relative, absolute)`` of a file path under the root; the root itself is refused."""
    relative = normalize_untrusted_path(raw)
    if not relative:
        raise InvalidInputError("An artifact path is required")
    return resolve_under(ctx.artifact_root_path, relative)


def _download_target(ctx: ServerContext, raw: str) -> str:
    relative, absolute = _file_path(ctx, raw)
    if not os.path.isfile(absolute):
        raise NotFoundError(f"Artifact not found: {relative!r}")
    return absolute


def _upload_target(ctx: ServerContext, raw: str) -> tuple[str, str]:
    """``(folder, name)`` to upload to; 400 when a file is in the way of the folder."""
    relative, absolute = _file_path(ctx, raw)
    if os.path.isdir(absolute):
        raise InvalidInputError(f"Cannot upload to {relative!r}: it is a folder")
    folder = ctx.artifact_root_path
    head, name = posixpath.split(relative)
    for part in head.split("/") if head else ():
        folder = os.path.join(folder, part)
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise InvalidInputError(f"Cannot upload to {relative!r}: {part!r} is a file")
    return head, name


def _delete(ctx: ServerContext, raw: str) -> None:
    relative, absolute = _file_path(ctx, raw)
    if os.path.isdir(absolute) and not os.path.islink(absolute):
        shutil.rmtree(absolute)
    elif os.path.lexists(absolute):
        os.remove(absolute)
    else:
        raise NotFoundError(f"Artifact not found: {relative!r}")


def _listing(ctx: ServerContext, raw: str | None) -> dict[str, Any]:
    relative = normalize_untrusted_path(raw)
    files = [
        file_info_json(info, posixpath.basename(info.path))
        for info in ctx.artifacts.list_artifacts(relative)
    ]
    return {"files": files}


def _start_upload(ctx: ServerContext) -> str:
    os.makedirs(ctx.artifact_root_path, exist_ok=True)
    return tempfile.mkdtemp(prefix=_UPLOAD_PREFIX, dir=ctx.artifact_root_path)


def _proxy_endpoints(ctx: ServerContext) -> tuple[Callable[..., Any], Callable[..., Any]]:
    async def file_endpoint(request: Request) -> Response:
        raw = request.path_params["path"]
        try:
            if request.method == "GET":
                absolute = await run_in_threadpool(_download_target, ctx, raw)
                return FileResponse(
                    absolute,
                    media_type=_safe_media_type(absolute),
                    filename=os.path.basename(absolute),
                    headers={
                        "X-Content-Type-Options": "nosniff",
                        "Content-Security-Policy": "sandbox",
                    },
                )
            if request.method == "DELETE":
                await run_in_threadpool(_delete, ctx, raw)
                return json_response({})
            folder, name = await run_in_threadpool(_upload_target, ctx, raw)
            staging = await run_in_threadpool(_start_upload, ctx)
            try:
                local = os.path.join(staging, name)
                with open(local, "wb") as f:
                    async for chunk in request.stream():
                        f.write(chunk)  # page-cache writes of small chunks: not worth a thread
                await run_in_threadpool(ctx.artifacts.log_artifact, local, folder or None)
            finally:
                await run_in_threadpool(shutil.rmtree, staging, True)
            return json_response({})
        except Exception as exc:
            return exception_response(exc, f"{request.method} {ARTIFACTS_PATH}")

    async def list_endpoint(request: Request) -> Response:
        try:
            path = request.query_params.get("path")
            return json_response(await run_in_threadpool(_listing, ctx, path))
        except Exception as exc:
            return exception_response(exc, f"GET {ARTIFACTS_PATH}")

    return file_endpoint, list_endpoint


def artifact_proxy_routes(ctx: ServerContext) -> list[BaseRoute]:
    file_endpoint, list_endpoint = _proxy_endpoints(ctx)
    routes: list[BaseRoute] = []
    for prefix in _PROXY_PREFIXES:
        routes.append(Route(prefix, list_endpoint, methods=["GET"]))
        routes.append(Route(prefix + "/", list_endpoint, methods=["GET"]))
        routes.append(
            Route(prefix + "/{path:path}", file_endpoint, methods=["GET", "PUT", "DELETE"])
        )
    return routes


def _list_run_artifacts(ctx: ServerContext, params: Params) -> dict[str, Any]:
    run = ctx.client.get_run(params.run_id())
    uri = run.info.artifact_uri
    if urlparse(uri).scheme not in ("file", ""):
        raise InvalidInputError(f"The artifacts of run {run.info.run_id} are not on this server")
    relative = normalize_untrusted_path(params.optional_string("path"))
    infos = LocalArtifactRepository(uri).list_artifacts(relative)
    return {
        "root_uri": ctx.client_uri(uri),
        "files": [file_info_json(info, info.path) for info in infos],
    }


ARTIFACT_LIST_ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    ("/artifacts/list", ("GET",), _list_run_artifacts),
]
