"""HttpArtifactRepository: artifacts behind a tracking server's MLflow artifacts API.

Speaks MLflow's ``/api/2.0/mlflow-artifacts/artifacts`` protocol (``PUT`` to upload, ``GET``
to download, ``GET ?path=`` to list), which ``spanrun server`` and ``mlflow server
--serve-artifacts`` both serve. Artifact URIs it takes:

- ``http(s)://host:port/api/2.0/mlflow-artifacts/artifacts/<root>``
- ``mlflow-artifacts://host:port/<root>`` (scheme taken from the tracking URI, else http)
- ``mlflow-artifacts:/<root>`` (the server is the current ``http(s)`` tracking URI)

Requests are retried as the REST store's are (``SPANRUN_HTTP_REQUEST_MAX_RETRIES``, default 5,
with exponential backoff from ``SPANRUN_HTTP_REQUEST_BACKOFF_FACTOR`` seconds; ``Retry-After``
honoured) when the server cannot be reached or answers 429, 502 or 503: every request here is
idempotent. Credentials: ``SPANRUN_TRACKING_TOKEN`` (or ``MLFLOW_TRACKING_TOKEN``) as a bearer
token, or ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` as basic auth. Paths the server
returns are checked like user paths before anything is written locally. Appends download and
re-upload the file (serialised within the process only); prefer local stores for
``llm_predictions.csv`` written by many processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlparse

from spanrun.artifacts._paths import normalize_artifact_path
from spanrun.artifacts._repository import ArtifactRepository
from spanrun.core.current import lookups
from spanrun.core.entities import FileInfo
from spanrun.core.http_auth import auth_headers
from spanrun.errors import InvalidInputError, NotFoundError, StoreError, UnsafePathError

__all__ = ["ARTIFACTS_ENDPOINT", "HttpArtifactRepository"]

ARTIFACTS_ENDPOINT = "/api/2.0/mlflow-artifacts/artifacts"
_TIMEOUT_ENV = "SPANRUN_HTTP_REQUEST_TIMEOUT"
_RETRIES_ENV = "SPANRUN_HTTP_REQUEST_MAX_RETRIES"
_BACKOFF_ENV = "SPANRUN_HTTP_REQUEST_BACKOFF_FACTOR"
_RETRY_STATUSES = frozenset({429, 502, 503})
_MAX_WAIT_S = 30.0
_CHUNK = 1024 * 1024


def _tracking_base() -> str:
    uri = lookups.tracking_uri()  # the tracking layer's (spanrun.core.current)
    if urlparse(uri).scheme not in ("http", "https"):
        raise InvalidInputError(
            f"mlflow-artifacts:/ URIs need an http(s) tracking URI, the current one is {uri!r}"
        )
    return uri.rstrip("/")


def _split(artifact_uri: str) -> tuple[str, str]:
    """``(server base URL, root path)`` of an artifact URI."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "mlflow-artifacts":
        if parsed.netloc:
            scheme = urlparse(_tracking_base_or_none() or "http://").scheme or "http"
            base = f"{scheme}://{parsed.netloc}"
        else:
            base = _tracking_base()
        root = parsed.path
    elif parsed.scheme in ("http", "https") and ARTIFACTS_ENDPOINT in parsed.path:
        prefix, _, root = parsed.path.partition(ARTIFACTS_ENDPOINT)
        base = f"{parsed.scheme}://{parsed.netloc}{prefix}"
    else:
        raise InvalidInputError(
            f"Not an artifacts-server URI (expected .../{ARTIFACTS_ENDPOINT.strip('/')}/...): "
            f"{artifact_uri!r}"
        )
    return base.rstrip("/"), normalize_artifact_path(root.strip("/"))


def _tracking_base_or_none() -> str | None:
    try:
        return _tracking_base()
    except InvalidInputError:
        return None


def _retry_policy() -> tuple[int, float]:
    """(retries, seconds before the first) from the REST store's variables: every request here
    is idempotent (a PUT writes the whole file), so any failure to get an answer is retried."""
    try:
        retries = int(os.environ.get(_RETRIES_ENV, "5"))
        backoff = float(os.environ.get(_BACKOFF_ENV, "0.5"))
    except ValueError:
        return 5, 0.5
    return max(0, retries), max(0.0, backoff)


def _seconds(retry_after: str | None) -> float:
    try:
        return max(0.0, float(retry_after or 0))
    except ValueError:  # an HTTP date: the exponential backoff decides
        return 0.0


def _timeout() -> float:
    try:
        return float(os.environ.get(_TIMEOUT_ENV, "120"))
    except ValueError:
        return 120.0


class HttpArtifactRepository(ArtifactRepository):
    """Artifacts below ``root`` on an artifacts server."""

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        self.base_url, self.root = _split(artifact_uri)

    # -- HTTP ------------------------------------------------------------------------------
    def _full(self, path: str | None) -> str:
        relative = normalize_artifact_path(path)
        return posixpath.join(self.root, relative) if relative else self.root

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
        length: int | None = None,
    ) -> Any:
        url = f"{self.base_url}{ARTIFACTS_ENDPOINT}"
        if path:
            url += "/" + quote(path)
        if query is not None:
            url += "?" + urlencode(query)
        retries, backoff = _retry_policy()
        attempt = 0
        while True:
            if attempt and body is not None and not isinstance(body, bytes):
                body.seek(0)  # a file being uploaded: send it again from the start
            request = urllib.request.Request(url, data=body, method=method, headers=auth_headers())
            if length is not None:
                request.add_header("Content-Length", str(length))
            try:
                return urllib.request.urlopen(request, timeout=_timeout())
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRY_STATUSES or attempt >= retries:
                    raise _error_from(exc, method, path) from None
                wait = max(backoff * 2.0**attempt, _seconds(exc.headers.get("Retry-After")))
                exc.close()
            except (urllib.error.URLError, OSError) as exc:
                if attempt >= retries:
                    raise StoreError(
                        f"Cannot reach the artifacts server {self.base_url} after "
                        f"{attempt + 1} attempts: {exc}"
                    ) from None
                wait = backoff * 2.0**attempt
            time.sleep(min(wait, _MAX_WAIT_S))
            attempt += 1

    # -- reading ---------------------------------------------------------------------------
    def read_bytes(self, artifact_file: str) -> bytes:
        with self._request("GET", self._file(artifact_file)) as response:
            data: bytes = response.read()
        return data

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        relative = normalize_artifact_path(path)
        with self._request("GET", "", query={"path": self._full(relative)}) as response:
            payload = json.loads(response.read() or b"{}")
        infos = []
        for entry in payload.get("files", []):
            try:
                name = normalize_artifact_path(entry["path"])
            except (UnsafePathError, KeyError, TypeError):
                raise StoreError(f"The artifacts server returned a bad path: {entry!r}") from None
            child = posixpath.join(relative, name) if relative else name
            is_dir = bool(entry.get("is_dir"))
            size = None if is_dir or entry.get("file_size") is None else int(entry["file_size"])
            infos.append(FileInfo(path=child, is_dir=is_dir, file_size=size))
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str = "", dst_path: str | None = None) -> str:
        relative = normalize_artifact_path(artifact_path)
        try:
            destination_root = os.path.abspath(dst_path) if dst_path else tempfile.mkdtemp()
        except OSError as exc:
            raise StoreError(f"Cannot create a temporary directory: {exc}") from exc
        destination = (
            os.path.join(destination_root, *relative.split("/")) if relative else destination_root
        )
        children = self.list_artifacts(relative)
        if not relative or children:
            self._download_tree(relative, destination, children)
        else:
            self._download_file(relative, destination)
        return destination

    def _download_tree(self, relative: str, destination: str, children: list[FileInfo]) -> None:
        try:
            os.makedirs(destination, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create {destination}: {exc}") from exc
        for child in children:
            name = posixpath.basename(child.path)
            target = os.path.join(destination, name)
            if child.is_dir:
                self._download_tree(child.path, target, self.list_artifacts(child.path))
            else:
                self._download_file(child.path, target)

    def _download_file(self, relative: str, destination: str) -> None:
        with self._request("GET", self._full(relative)) as response:
            try:
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                with open(destination, "wb") as f:
                    shutil.copyfileobj(response, f, _CHUNK)
            except OSError as exc:
                raise StoreError(f"Cannot write {destination}: {exc}") from exc

    # -- writing ---------------------------------------------------------------------------
    def _file(self, artifact_file: str) -> str:
        relative = normalize_artifact_path(artifact_file)
        if not relative:
            raise InvalidInputError("An artifact file path is required, got the root")
        return self._full(relative)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        with self._request("PUT", self._file(artifact_file), body=data, length=len(data)):
            pass

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        source = os.fspath(local_file)
        if not os.path.isfile(source):
            raise NotFoundError(f"Local file not found: {source}")
        relative = normalize_artifact_path(artifact_path)
        name = os.path.basename(source)
        target = self._file(posixpath.join(relative, name) if relative else name)
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            with self._request("PUT", target, body=f, length=size):
                pass

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        source_root = os.fspath(local_dir)
        if not os.path.isdir(source_root):
            raise NotFoundError(f"Local directory not found: {source_root}")
        relative = normalize_artifact_path(artifact_path)
        for dirpath, _dirnames, filenames in os.walk(source_root):
            sub = os.path.relpath(dirpath, source_root)
            parts = [] if sub == "." else sub.split(os.sep)
            directory = "/".join(p for p in (relative, *parts) if p)
            for name in filenames:
                self.log_artifact(os.path.join(dirpath, name), directory or None)


def _error_from(exc: urllib.error.HTTPError, method: str, path: str) -> Exception:
    try:
        detail = exc.read(4096).decode("utf-8", errors="replace")
    except OSError:
        detail = ""
    message = detail
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(detail).get("message") or detail
    if exc.code == 404:
        return NotFoundError(f"Artifact not found: {path!r}")
    if exc.code in (400, 422):
        return InvalidInputError(f"The artifacts server refused {method} {path!r}: {message}")
    if exc.code in (401, 403):
        return StoreError(
            f"The artifacts server denied {method} {path!r} ({exc.code}); "
            "set SPANRUN_TRACKING_TOKEN"
        )
    return StoreError(f"The artifacts server failed {method} {path!r}: {exc.code} {message}")
