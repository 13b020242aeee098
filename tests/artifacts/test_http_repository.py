"""HttpArtifactRepository over real HTTP against a small artifacts server speaking MLflow's
``/api/2.0/mlflow-artifacts/artifacts`` protocol (stdlib http.server over a local repository).
The same calls were checked by hand against ``mlflow server --serve-artifacts`` 3.17."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from spanrun.artifacts import (
    HttpArtifactRepository,
    LocalArtifactRepository,
    get_artifact_repository,
)
from spanrun.errors import InvalidInputError, NotFoundError, StoreError, UnsafePathError
from spanrun.llm import append_prediction_rows
from spanrun.tracking._tables import _write_rows

ENDPOINT = "/api/2.0/mlflow-artifacts/artifacts"


class _Server(ThreadingHTTPServer):
    store: LocalArtifactRepository
    evil_listing = False
    token: str | None = None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _path(self) -> str | None:
        if self.server.token and self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._reply(401, b'{"message": "unauthorized"}')
            return None
        parsed = urlparse(self.path)
        if not parsed.path.startswith(ENDPOINT):
            self._reply(404, b"{}")
            return None
        return unquote(parsed.path[len(ENDPOINT) :]).lstrip("/")

    def do_GET(self) -> None:
        path = self._path()
        if path is None:
            return
        if not path:  # listing
            listed = parse_qs(urlparse(self.path).query).get("path", [""])[0]
            files = [
                {"path": f.path.rsplit("/", 1)[-1], "is_dir": f.is_dir}
                | ({} if f.is_dir else {"file_size": f.file_size})
                for f in self.server.store.list_artifacts(listed)
            ]
            if self.server.evil_listing:
                files.append({"path": "../../escaped.txt", "is_dir": False, "file_size": 1})
            self._reply(200, json.dumps({"files": files}).encode())
            return
        try:
            self._reply(200, self.server.store.read_bytes(path), "application/octet-stream")
        except NotFoundError:
            self._reply(404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST"}')
        except UnsafePathError as exc:
            self._reply(400, json.dumps({"message": str(exc)}).encode())

    def do_PUT(self) -> None:
        path = self._path()
        if path is None:
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.store.write_bytes(path, body)
        self._reply(200, b"{}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.store = LocalArtifactRepository(str(tmp_path / "server-side"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def remote(server: _Server) -> HttpArtifactRepository:
    host, port = server.server_address[:2]
    repo = get_artifact_repository(f"http://{host}:{port}{ENDPOINT}/1/run/artifacts")
    assert isinstance(repo, HttpArtifactRepository)
    return repo


def test_write_read_list(remote: HttpArtifactRepository, server: _Server) -> None:
    remote.write_bytes("notes/a b ü.txt", "hëllo".encode())
    assert remote.read_bytes("notes/a b ü.txt") == "hëllo".encode()
    assert server.store.read_bytes("1/run/artifacts/notes/a b ü.txt") == "hëllo".encode()
    assert [(f.path, f.is_dir) for f in remote.list_artifacts()] == [("notes", True)]
    [info] = remote.list_artifacts("notes")
    assert (info.path, info.file_size) == ("notes/a b ü.txt", 6)
    assert remote.list_artifacts("nothing-here") == []


def test_log_and_download_trees(remote: HttpArtifactRepository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("F")
    (src / "top.txt").write_text("T")
    remote.log_artifacts(src, "tree")
    remote.log_artifact(src / "top.txt")
    out = Path(remote.download_artifacts("", str(tmp_path / "out")))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "top.txt",
        "tree/sub/f.txt",
        "tree/top.txt",
    ]
    one = remote.download_artifacts("tree/sub/f.txt", str(tmp_path / "one"))
    assert Path(one) == tmp_path / "one" / "tree" / "sub" / "f.txt"
    assert Path(one).read_text() == "F"
    with pytest.raises(NotFoundError):
        remote.download_artifacts("missing.txt", str(tmp_path / "x"))


def test_appends_and_tables_over_http(remote: HttpArtifactRepository) -> None:
    append_prediction_rows(remote, [{"inputs": 'x,"y"\nz'}], ["inputs"])
    append_prediction_rows(remote, [{"inputs": "second", "model": "m"}], ["inputs", "model"])
    assert remote.read_bytes("llm_predictions.csv") == (
        b'inputs,model\r\n"x,""y""\nz",\r\nsecond,m\r\n'
    )
    _write_rows(remote, "t.json", ["a"], [[1]])
    _write_rows(remote, "t.json", ["a"], [[2]])
    assert json.loads(remote.read_bytes("t.json")) == {"columns": ["a"], "data": [[1], [2]]}


def test_errors(
    remote: HttpArtifactRepository, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(NotFoundError):
        remote.read_bytes("missing.txt")
    with pytest.raises(UnsafePathError):
        remote.read_bytes("../other-run/secret.txt")
    server.evil_listing = True
    with pytest.raises(StoreError, match="bad path"):
        remote.list_artifacts()
    with pytest.raises(InvalidInputError):
        get_artifact_repository("http://example.invalid/not/the/endpoint")
    server.server_close()  # nobody listens any more
    server.shutdown()
    monkeypatch.setenv("SPANRUN_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    with pytest.raises(StoreError, match=r"Cannot reach.*after 6 attempts"):
        remote.read_bytes("x.txt")


def test_bearer_token_and_mlflow_artifacts_uri(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spanrun
    from spanrun.tracking import _uri

    host, port = server.server_address[:2]
    server.token = "s3cret"
    monkeypatch.setattr(_uri, "_state", _uri._TrackingUriState())  # no leak of the URI
    spanrun.set_tracking_uri(f"http://{host}:{port}")
    repo = get_artifact_repository("mlflow-artifacts:/1/run/artifacts")
    with pytest.raises(StoreError, match="SPANRUN_TRACKING_TOKEN"):
        repo.write_bytes("a.txt", b"x")
    monkeypatch.setenv("SPANRUN_TRACKING_TOKEN", "s3cret")
    repo.write_bytes("a.txt", b"x")
    netloc = get_artifact_repository(f"mlflow-artifacts://{host}:{port}/1/run/artifacts")
    assert netloc.read_bytes("a.txt") == b"x"
