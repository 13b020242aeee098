"""Tracking servers for the REST store tests: a real stock ``mlflow server`` (MLflow 3.x, from
its own venv made by ``scripts/mlflow_env.sh``) and tiny scripted HTTP servers.

``mlflow_server_uri`` (session) starts ``mlflow server`` once on a free port with a temporary
SQLite backend and ``--serve-artifacts``; without the MLflow venv its tests are skipped (failed
when CI is set). The process group is killed at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_START_TIMEOUT_S = 180.0  # a cold start (migrations on 2 busy cores) took 21 s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mlflow_python() -> str:
    """The python of the stock MLflow venv (created once by scripts/mlflow_env.sh)."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "mlflow_env.sh")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    python = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or not python or not os.path.exists(python):
        raise RuntimeError(f"scripts/mlflow_env.sh failed: {result.stderr[-2000:]}")
    return python


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited ({process.returncode}): {log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):  # up, and asking for its token
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"the server did not answer {url} in {timeout:.0f} s: {log.read_text()[-3000:]}"
    )


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started with ``start_new_session=True`` and every process it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    # Workers the server forked may outlive it by a moment: the group goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def mlflow_server() -> Iterator[str]:
    """A stock ``mlflow server`` on a free port; yields its URI."""
    python = mlflow_python()
    with tempfile.TemporaryDirectory(prefix="spanrun-mlflow-server-") as tmp:
        port = free_port()
        log = Path(tmp) / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SPANRUN_"))}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # six job-runner processes we need not
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    *(python, "-m", "mlflow", "server", "--host", "127.0.0.1"),
                    *("--port", str(port), "--workers", "1"),
                    *("--backend-store-uri", f"sqlite:///{tmp}/mlflow.db"),
                    *("--serve-artifacts", "--artifacts-destination", f"{tmp}/artifacts"),
                ],
                cwd=tmp,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health", process, log, _START_TIMEOUT_S)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_group(process)


@pytest.fixture(scope="session")
def mlflow_server_uri() -> Iterator[str]:
    """The URI of the session's stock ``mlflow server`` (started on first use)."""
    try:
        manager = mlflow_server()
        uri = manager.__enter__()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the stock MLflow server is required in CI: {exc}")
        pytest.skip(f"no stock MLflow server: {exc}")
    try:
        yield uri
    finally:
        manager.__exit__(None, None, None)


Responder = Callable[[BaseHTTPRequestHandler, int], tuple[int, dict[str, str], bytes]]


class ScriptedServer:
    """A real HTTP server on a free port whose answers a test scripts: ``respond(handler,
    n)`` gives ``(status, headers, body)`` for the ``n``-th request (0-based). Records each
    request's (method, path, headers, body)."""

    def __init__(self, respond: Responder) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.times: list[float] = []
        self.client_ports: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    n = len(owner.requests)
                    owner.requests.append((self.command, self.path, dict(self.headers), body))
                    owner.times.append(time.monotonic())
                    owner.client_ports.append(self.client_address[1])
                status, headers, payload = respond(self, n)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

        lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class InThreadServer:
    """``spanrun.server.create_app`` served by uvicorn in a thread of this process, on a free
    port: a fresh server per test costs ~0.1 s to start and ~0.15 s to stop, where a
    subprocess costs seconds (used to run the tracking tests through the REST store)."""

    def __init__(self, backend_store_uri: str, artifacts_destination: str) -> None:
        import uvicorn

        from spanrun.server import create_app

        app = create_app(backend_store_uri, artifacts_destination)
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
        # without it a response written in two parts waits for the client's delayed ACK
        # (40 ms a request).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self.uri = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> InThreadServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-thread spanrun server did not start")
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


@dataclass
class RunningServer:
    uri: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL, the whole process group (workers too), as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def spanrun_server(
    tmp: Path,
    *,
    token: str | None = None,
    workers: int = 1,
    backend: str | None = None,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """``spanrun server`` in a subprocess (the spanrun package this test imports), on ``port``
    (default: a free one), SQLite store in ``tmp`` unless ``backend`` is given."""
    import sys

    import spanrun

    port = port or free_port()
    log = tmp / f"spanrun-server-{port}-{time.monotonic_ns()}.log"
    src = str(Path(spanrun.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANRUN_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    env["SPANRUN_RAISE_INTERNAL_ERRORS"] = "1"
    command = [
        *(sys.executable, "-c", "from spanrun.cli import main; main()", "server"),
        *("--backend-store-uri", backend or f"sqlite:///{tmp / 'server.db'}"),
        *("--artifacts-destination", str(tmp / "server-artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *(("--auth-token", token) if token else ()),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, log, 120)
        yield RunningServer(f"http://127.0.0.1:{port}", process)
    finally:
        stop_group(process)
