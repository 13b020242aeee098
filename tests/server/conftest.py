"""Fixtures for the server tests: ``spanrun server`` in a real uvicorn subprocess, on SQLite and
on PostgreSQL (a database of the session's server, tests/_postgres.py)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from spanrun.store import clear_store_cache

REPO = Path(__file__).resolve().parents[2]
_db_numbers = itertools.count()


@dataclass
class ServerProcess:
    """A running ``spanrun server``; ``http`` is an httpx client with the token (if any)."""

    base_url: str
    backend_store_uri: str
    artifacts_destination: Path
    token: str | None
    process: subprocess.Popen[bytes]
    log_path: Path
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def api(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """``method /api/2.0/mlflow/<path>``; JSON body via ``json=``, query via ``params=``."""
        return self.http.request(method, f"/api/2.0/mlflow/{path}", **kwargs)  # type: ignore[arg-type]

    def ok(self, method: str, path: str, **kwargs: object) -> dict[str, object]:
        response = self.api(method, path, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_command(*args: str) -> list[str]:
    """``spanrun <args>`` with this checkout's sources."""
    return [sys.executable, "-c", "from spanrun.cli import main; main()", *args]


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPANRUN_SERVER_")}
    # The checkout's sources, and the checkout itself for test extensions (tests.server...).
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src"), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env.update(extra or {})
    return env


def start_server(
    tmp: Path,
    backend_store_uri: str,
    *,
    token: str | None = None,
    workers: int = 1,
    host: str = "127.0.0.1",
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    artifacts: Path | None = None,
    command: tuple[str, ...] | None = None,
) -> ServerProcess:
    """Start ``spanrun server`` (or ``spanrun <command> --port <port>``) in ``tmp``."""
    port = free_port()
    artifacts = artifacts or tmp / "server-artifacts"
    log_path = tmp / f"server-{port}.log"
    args = (
        [*command, "--port", str(port)]
        if command
        else [
            "server",
            "--backend-store-uri",
            backend_store_uri,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            *extra_args,
        ]
    )
    if token:
        args += ["--auth-token", token]
    if command:
        args += list(extra_args)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            server_command(*args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(env),
            cwd=tmp,
        )
    server = ServerProcess(
        f"http://127.0.0.1:{port}", backend_store_uri, artifacts, token, process, log_path
    )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"spanrun server exited ({process.returncode}):\n{server.log()}")
        try:
            server.http.get("/health")  # any answer (a 403 for a foreign Host too) means up
            return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"spanrun server did not start:\n{server.log()}")
        time.sleep(0.1)


def new_postgres_database(server_uri: str) -> str:
    """An empty database on the session's PostgreSQL server; its URI."""
    name = f"server_test_{os.getpid()}_{next(_db_numbers)}"
    url = sa.make_url(server_uri).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _forget_cached_stores() -> Iterator[None]:
    yield
    clear_store_cache()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend_uri(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database per test module, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'server.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_uri"))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one test, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_uri"))


@pytest.fixture(scope="module")
def server(backend_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per module and backend (tests use names of their own)."""
    running = start_server(tmp_path_factory.mktemp("server"), backend_uri)
    yield running
    running.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers with the given options; all are stopped after the test."""
    started: list[ServerProcess] = []

    def start(backend_store_uri: str | None = None, **kwargs: object) -> ServerProcess:
        uri = backend_store_uri or f"sqlite:///{tmp_path / 'server.db'}"
        running = start_server(tmp_path, uri, **kwargs)  # type: ignore[arg-type]
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server on SQLite per module (for what does not depend on the database)."""
    tmp = tmp_path_factory.mktemp("sqlite-server")
    running = start_server(tmp, f"sqlite:///{tmp / 'server.db'}")
    yield running
    running.stop()
