"""The proxied artifact API (``/api/2.0/mlflow-artifacts/artifacts``) and ``artifacts/list``:
uploads, downloads, listings and deletes over real HTTP, spanrun's own HttpArtifactRepository
against the server, and every path-traversal form refused."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

import pytest

from spanrun.artifacts import HttpArtifactRepository, get_artifact_repository
from spanrun.errors import UnsafePathError
from spanrun.llm import append_prediction_rows
from tests.server.conftest import ServerProcess

ENDPOINT = "/api/2.0/mlflow-artifacts/artifacts"
SECRET = "top-secret-content-0xC0FFEE"


def _run(server: ServerProcess) -> tuple[str, str]:
    run = server.ok("POST", "runs/create", json={"experiment_id": "0"})["run"]
    return run["info"]["run_id"], run["info"]["artifact_uri"]  # type: ignore[index]


def test_upload_download_list_delete(sqlite_server: ServerProcess) -> None:
    server = sqlite_server
    run_id, artifact_uri = _run(server)
    assert artifact_uri == f"mlflow-artifacts:/0/{run_id}/artifacts"
    base = f"{ENDPOINT}/0/{run_id}/artifacts"
    http = server.http
    assert http.put(f"{base}/notes/a b ü.txt", content="hëllo".encode()).json() == {}
    assert http.put(f"{base}/page.html", content=b"<script>alert(1)</script>").status_code == 200
    assert http.put(f"{base}/big.bin", content=os.urandom(3_000_000)).status_code == 200

    on_disk = server.artifacts_destination / "0" / run_id / "artifacts"
    assert (on_disk / "notes" / "a b ü.txt").read_bytes() == "hëllo".encode()
    downloaded = http.get(f"{base}/notes/a b ü.txt")
    assert downloaded.content == "hëllo".encode()
    assert downloaded.headers["x-content-type-options"] == "nosniff"
    assert downloaded.headers["content-disposition"].startswith("attachment")
    page = http.get(f"{base}/page.html")
    assert page.headers["content-type"].startswith("text/plain")  # never run as HTML
    assert len(http.get(f"{base}/big.bin").content) == 3_000_000

    listing = http.get(ENDPOINT, params={"path": f"0/{run_id}/artifacts"}).json()
    assert listing == {
        "files": [
            {"path": "big.bin", "is_dir": False, "file_size": 3_000_000},
            {"path": "notes", "is_dir": True},
            {"path": "page.html", "is_dir": False, "file_size": 25},
        ]
    }
    assert http.get(ENDPOINT, params={"path": f"0/{run_id}/nothing"}).json() == {"files": []}
    tracked = server.ok("GET", "artifacts/list", params={"run_id": run_id, "path": "notes"})
    assert tracked == {
        "root_uri": artifact_uri,
        "files": [{"path": "notes/a b ü.txt", "is_dir": False, "file_size": 6}],
    }

    assert http.delete(f"{base}/page.html").json() == {}
    assert http.get(f"{base}/page.html").status_code == 404
    assert http.delete(f"{base}/notes").status_code == 200
    assert not (on_disk / "notes").exists()
    missing = http.delete(f"{base}/notes")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    folder = http.get(f"{base}")
    assert folder.status_code == 404
    # A file in the way of a folder, a folder in the way of a file: 400, not 500.
    assert http.put(f"{base}/big.bin/x.txt", content=b"x").status_code == 400
    http.put(f"{base}/d/f.txt", content=b"x")
    assert http.put(f"{base}/d", content=b"x").status_code == 400


def test_spanrun_http_repository_against_the_server(
    sqlite_server: ServerProcess, tmp_path: Path
) -> None:
    server = sqlite_server
    run_id, _ = _run(server)
    repo = get_artifact_repository(f"{server.base_url}{ENDPOINT}/0/{run_id}/artifacts")
    assert isinstance(repo, HttpArtifactRepository)
    repo.write_bytes("t/x.json", b'{"a": 1}')
    assert repo.read_bytes("t/x.json") == b'{"a": 1}'
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("F")
    (src / "top.txt").write_text("T")
    repo.log_artifacts(src, "tree")
    out = Path(repo.download_artifacts("tree", str(tmp_path / "out")))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "sub/f.txt",
        "top.txt",
    ]
    append_prediction_rows(repo, [{"inputs": "q1", "outputs": "a1"}], ["inputs", "outputs"])
    append_prediction_rows(repo, [{"inputs": "q2", "outputs": "a2"}], ["inputs", "outputs"])
    csv = server.artifacts_destination / "0" / run_id / "artifacts" / "llm_predictions.csv"
    assert csv.read_bytes() == b"inputs,outputs\r\nq1,a1\r\nq2,a2\r\n"
    assert [f.path for f in repo.list_artifacts()] == ["llm_predictions.csv", "t", "tree"]


def _raw(
    server: ServerProcess, method: str, target: str, body: bytes | None = None
) -> tuple[int, bytes]:
    """One request with the target sent byte for byte (no client-side normalisation)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# Each reaches for ../secret.txt next to the artifact root (or for /etc/passwd).
TRAVERSALS = [
    "../secret.txt",
    "0/../../secret.txt",
    "%2e%2e/secret.txt",
    "%2E%2E%2Fsecret.txt",
    ".%2e/secret.txt",
    "%252e%252e/secret.txt",
    "%25252e%25252e%25252fsecret.txt",
    "..%5csecret.txt",
    "0%5c..%5c..%5csecret.txt",
    "..\\secret.txt",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "C:%5cWindows%5cwin.ini",
    "C:/Windows/win.ini",
    "x%23/../../secret.txt",
    "x%3f/../../secret.txt",
    "x/..%00/secret.txt",
    "%c0%ae%c0%ae/secret.txt",
    "0/./../../secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_every_traversal_form_is_refused(sqlite_server: ServerProcess, path: str) -> None:
    server = sqlite_server
    secret = server.artifacts_destination.parent / "secret.txt"
    secret.write_text(SECRET)
    victim = server.artifacts_destination.parent / "victim.txt"
    for method, target, body in [
        ("GET", f"{ENDPOINT}/{path}", None),
        ("PUT", f"{ENDPOINT}/{path}", b"overwritten"),
        ("DELETE", f"{ENDPOINT}/{path}", None),
        ("PUT", f"{ENDPOINT}/{path.replace('secret.txt', 'victim.txt')}", b"planted"),
        ("GET", f"{ENDPOINT}?path={path.replace('secret.txt', '')}", None),
    ]:
        status, content = _raw(server, method, target, body)
        assert status == 400, (method, target, status, content)
        assert json.loads(content)["error_code"] == "INVALID_PARAMETER_VALUE"
        assert SECRET.encode() not in content
    assert secret.read_text() == SECRET
    assert not victim.exists()


def test_symlinks_leading_outside_are_refused(sqlite_server: ServerProcess) -> None:
    server = sqlite_server
    outside = server.artifacts_destination.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text(SECRET)
    server.artifacts_destination.mkdir(exist_ok=True)
    link = server.artifacts_destination / "link"
    if not link.is_symlink():
        link.symlink_to(outside, target_is_directory=True)
    http = server.http
    for response in [
        http.get(f"{ENDPOINT}/link/secret.txt"),
        http.put(f"{ENDPOINT}/link/planted.txt", content=b"x"),
        http.delete(f"{ENDPOINT}/link/secret.txt"),
        http.get(ENDPOINT, params={"path": "link"}),
    ]:
        assert response.status_code == 400, response.text
        assert SECRET not in response.text
    assert not (outside / "planted.txt").exists()
    assert (outside / "secret.txt").exists()
    listing = http.get(ENDPOINT).json()["files"]
    assert "link" not in [f["path"] for f in listing]  # links leading outside are not listed


def test_tracking_list_refuses_traversal(sqlite_server: ServerProcess) -> None:
    run_id, _ = _run(sqlite_server)
    for path in ("../..", "%2e%2e", "/etc", "a/../../.."):
        response = sqlite_server.api(
            "GET", "artifacts/list", params={"run_id": run_id, "path": path}
        )
        assert response.status_code == 400, response.text
    with pytest.raises(UnsafePathError):
        get_artifact_repository(
            f"{sqlite_server.base_url}{ENDPOINT}/0/{run_id}/artifacts"
        ).read_bytes("../../x")
