"""Fixtures for the OTLP receiver tests: the receiver in a real uvicorn process on the test's
store, and senders made of the official OpenTelemetry SDK and OTLP exporters."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ReceiverProcess:
    """``tests.server.otlp._app`` in a subprocess; ``restart()`` keeps store and port."""

    store_uri: str
    options: dict[str, Any] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_url(self) -> str:
        return f"{self.base_url}/v1/traces"

    def start(self, timeout_s: float = 30.0) -> None:
        import json

        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.server.otlp._app",
                self.store_uri,
                str(self.port),
                json.dumps(self.options),
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the receiver exited with {self.process.returncode}")
            try:
                # A GET on the POST-only route: 405 once the app serves.
                if httpx.get(self.traces_url, timeout=1).status_code == 405:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM: uvicorn runs the shutdown (queued spans written, session runs ended)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def receiver_factory(tracking_uri: str) -> Iterator[Callable[..., ReceiverProcess]]:
    started: list[ReceiverProcess] = []

    def start(**options: Any) -> ReceiverProcess:
        receiver = ReceiverProcess(tracking_uri, options)
        started.append(receiver)
        receiver.start()
        return receiver

    yield start
    for receiver in started:
        receiver.kill()


@pytest.fixture
def receiver(receiver_factory: Callable[..., ReceiverProcess]) -> ReceiverProcess:
    return receiver_factory()


@pytest.fixture(scope="module")
def shared_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverProcess]:
    """One receiver for a module's tests that look only at answers (its own store)."""
    path = tmp_path_factory.mktemp("shared-receiver") / "spanrun.db"
    receiver = ReceiverProcess(f"sqlite:///{path}")
    receiver.start()
    yield receiver
    receiver.kill()
