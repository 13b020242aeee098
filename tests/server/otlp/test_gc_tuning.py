"""A `spanrun server` worker (and a receiver asked to) tunes the garbage collector once
started; an app made by ``create_app`` (which may run in a thread of another program) and a
receiver by default leave it alone.

Each case runs the app's startup in its own Python process (the settings are process-wide:
they must not leak into the test process), through Starlette's lifespan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from spanrun.server import SERVER_GC_THRESHOLD

ROOT = Path(__file__).resolve().parents[3]

_SCRIPT = """
import gc, json, os, sys
from starlette.testclient import TestClient
from spanrun.server import ENV_ARTIFACTS_DESTINATION, ENV_BACKEND_STORE_URI
from spanrun.server import app_from_environment, create_app
from tests.server.otlp._app import make_app

kind, store_uri, artifacts = sys.argv[1:4]
default = gc.get_threshold()[0]
if kind == "server":  # what each `spanrun server` worker runs
    os.environ[ENV_BACKEND_STORE_URI] = store_uri
    os.environ[ENV_ARTIFACTS_DESTINATION] = artifacts
    app = app_from_environment()
elif kind == "create_app":
    app = create_app(store_uri, artifacts)
else:
    asked = {"tune_gc": True} if kind == "receiver" else {}
    app = make_app(store_uri, artifact_root=artifacts, **asked)
with TestClient(app):
    started = {"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count()}
print(json.dumps({"default": default, **started}))
"""


def _started(kind: str, tmp_path: Path) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, kind, f"sqlite:///{tmp_path}/s.db", str(tmp_path / "a")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_server_worker_freezes_and_raises_the_young_threshold(tmp_path: Path) -> None:
    started = _started("server", tmp_path)
    assert started["default"] == 700
    assert started["threshold"] == SERVER_GC_THRESHOLD
    assert started["frozen"] > 10_000  # the app's modules and objects


def test_receiver_asked_to_tunes_the_gc(tmp_path: Path) -> None:
    started = _started("receiver", tmp_path)
    assert started["threshold"] == SERVER_GC_THRESHOLD
    assert started["frozen"] > 10_000


def test_receiver_by_default_leaves_the_gc_alone(tmp_path: Path) -> None:
    started = _started("untuned", tmp_path)
    assert started["threshold"] == started["default"]
    assert started["frozen"] == 0


def test_create_app_by_default_leaves_the_gc_alone(tmp_path: Path) -> None:
    started = _started("create_app", tmp_path)
    assert started["threshold"] == started["default"]
    assert started["frozen"] == 0
