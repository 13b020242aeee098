"""Security of ``spanrun server``: bearer token on every route, Host-header check (DNS
rebinding), cross-site requests, body limits, binding rules, no stack traces, extensions behind
the same checks."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import (
    ServerProcess,
    free_port,
    server_command,
    server_env,
    start_server,
)

TOKEN = "s3cret-token"
EXTENSION = {"SPANRUN_SERVER_EXTENSIONS": "tests.server._test_extension:make"}

# One request on each family of routes: MLflow API, artifacts, spanrun's API, health,
# an extension's route, and a path that does not exist.
ROUTES = [
    ("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0"),
    ("POST", "/api/2.0/mlflow/experiments/search"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/x.txt"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0"),
    ("GET", "/api/2.0/spanrun/server-info"),
    ("GET", "/health"),
    ("GET", "/test-ext/state"),
    ("GET", "/no/such/route"),
]


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("token-server")
    running = start_server(tmp, f"sqlite:///{tmp / 'server.db'}", token=TOKEN, env=EXTENSION)
    yield running
    running.stop()


@pytest.fixture
def anonymous(token_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=token_server.base_url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer",
        f"bearer  {TOKEN[:-1]}",
    ],
)
def test_every_route_needs_the_token(
    token_server: ServerProcess, anonymous: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in ROUTES:
        response = anonymous.request(
            method, path, headers=headers, json={} if method == "POST" else None
        )
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error_code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"] == "Bearer"
    assert not (token_server.artifacts_destination / "0" / "x.txt").exists()


def test_the_right_token_passes(token_server: ServerProcess) -> None:
    http = token_server.http  # sends "Authorization: Bearer <token>"
    statuses = [
        http.request(method, path, content=b"x" if method == "PUT" else None).status_code
        for method, path in ROUTES
    ]
    assert statuses == [200, 200, 200, 200, 200, 200, 200, 404]
    assert http.get("/test-ext/state").json() == {"started": True, "store": "SqlAlchemyStore"}
    lower = httpx.get(
        f"{token_server.base_url}/health", headers={"Authorization": f"bearer {TOKEN}"}
    )
    assert lower.status_code == 200  # the scheme is case-insensitive


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:5000",
        "127.0.0.1.evil.example",
        "localhost.evil",
        "0.0.0.0",
        "",
    ],
)
def test_foreign_host_headers_are_refused(
    sqlite_server_for_hosts: ServerProcess, host: str
) -> None:
    response = sqlite_server_for_hosts.http.get(
        "/api/2.0/spanrun/server-info", headers={"Host": host}
    )
    assert response.status_code == 403, response.text
    assert response.json()["error_code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:5000", "127.0.0.1:1", "[::1]:8080", "LOCALHOST"]
)
def test_loopback_host_headers_pass(sqlite_server_for_hosts: ServerProcess, host: str) -> None:
    response = sqlite_server_for_hosts.http.get(
        "/api/2.0/spanrun/server-info", headers={"Host": host}
    )
    assert response.status_code == 200, response.text


def test_cross_site_browser_requests_are_refused(sqlite_server_for_hosts: ServerProcess) -> None:
    response = sqlite_server_for_hosts.http.post(
        "/api/2.0/mlflow/experiments/create",
        content=b'{"name": "csrf"}',
        headers={"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
    )
    assert response.status_code == 403
    same = sqlite_server_for_hosts.http.get(
        "/api/2.0/spanrun/server-info", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert same.status_code == 200


@pytest.fixture(scope="module")
def sqlite_server_for_hosts(sqlite_server: ServerProcess) -> ServerProcess:
    return sqlite_server


def test_body_limits(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(
        env={
            "SPANRUN_SERVER_MAX_BODY_BYTES": "10000",
            "SPANRUN_SERVER_MAX_UPLOAD_BYTES": "100000",
            **EXTENSION,
        }
    )
    http = server.http
    big = b'{"name": "' + b"x" * 20_000 + b'"}'
    declared = http.post(
        "/api/2.0/mlflow/experiments/create",
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert declared.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"

    def chunks(total: int) -> Iterator[bytes]:
        for _ in range(total // 1000):
            yield b"x" * 1000

    streamed = http.post(
        "/api/2.0/mlflow/experiments/create",
        content=chunks(20_000),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413, streamed.text
    overflow = http.post("/test-ext/echo", content=chunks(20_000))
    assert overflow.status_code == 413
    assert overflow.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"  # an extension's too
    assert http.post("/test-ext/echo", content=chunks(5_000)).json() == {"size": 5_000}

    base = "/api/2.0/mlflow-artifacts/artifacts/0/limits"
    assert http.put(f"{base}/ok.bin", content=b"x" * 50_000).status_code == 200
    assert http.put(f"{base}/big.bin", content=b"x" * 200_000).status_code == 413
    chunked = http.put(f"{base}/chunked.bin", content=chunks(200_000))
    assert chunked.status_code == 413, chunked.text
    folder = server.artifacts_destination / "0" / "limits"
    assert sorted(p.name for p in folder.iterdir()) == ["ok.bin"]  # nothing half-written
    assert not [p for p in server.artifacts_destination.iterdir() if p.name.startswith(".")]


def test_internal_errors_have_no_stack_trace(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(env=EXTENSION)
    for _ in range(3):  # and the keep-alive connection stays usable after each
        response = server.http.get("/test-ext/boom")
        assert response.status_code == 500
        assert response.json()["error_code"] == "INTERNAL_ERROR"
        assert "Traceback" not in response.text and "/etc/shadow" not in response.text
        assert server.http.get("/health").status_code == 200
    assert "RuntimeError: internal detail" in server.log()  # the details are in the server's log


def test_extension_shutdown_runs(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    marker = tmp_path / "stopped.txt"
    server = server_factory(env={**EXTENSION, "TEST_EXTENSION_SHUTDOWN_MARKER": str(marker)})
    server.stop()
    assert marker.read_text() == "stopped"


def test_non_loopback_bind_needs_a_token(tmp_path: Path) -> None:
    refused = subprocess.run(
        server_command(
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'x.db'}",
        ),
        env=server_env(),
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        text=True,
    )
    assert refused.returncode != 0
    assert "--auth-token" in refused.stderr and "--insecure-no-auth" in refused.stderr


def test_non_loopback_bind_with_token_answers_any_host(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(host="0.0.0.0", token=TOKEN)
    response = server.http.get(
        "/api/2.0/spanrun/server-info", headers={"Host": "tracking.example:5000"}
    )
    assert response.status_code == 200
    assert httpx.get(f"{server.base_url}/health").status_code == 401


def test_insecure_no_auth(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(
        host="0.0.0.0", extra_args=("--insecure-no-auth", "--allowed-hosts", "tracking.example")
    )
    assert server.http.get("/health", headers={"Host": "tracking.example"}).status_code == 200
    assert server.http.get("/health", headers={"Host": "other.example"}).status_code == 403
