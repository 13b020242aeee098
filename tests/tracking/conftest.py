"""Fixtures for the tracking API tests: every test runs once per store backend, with a fluent
API with no leftover state:

- ``sqlite``: its own SQLite store in tmp_path (the embedded default);
- ``rest``: the REST store, talking to a fresh ``spanrun server`` (``create_app`` served by
  uvicorn in a thread; its SQLite store and artifacts in tmp_path). Tests that look at the
  store's files or the package rather than the API (``LOCAL_ONLY_MODULES``) run on SQLite
  only.

``-k sqlite`` or ``-k rest`` picks one backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import spanrun
from tests._isolation import ENV_VARS, reset_tracking
from tests._rest_servers import InThreadServer

HERE = Path(__file__).resolve().parent
# Modules that are about the local store itself, not about what the API does.
LOCAL_ONLY_MODULES = {
    "test_uri.py",  # tracking URI resolution (paths, environment, defaults)
    "test_mlflow_snippet.py",  # sets its own SQLite URI
    "test_property_api.py",  # checks the SQLite file after each example
    "test_quickstart_example.py",  # the example writes its own SQLite store
    "test_public_api.py",  # names and imports, no store
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("tracking_uri") if callspec is not None else None
        # (This hook sees the whole session's items: only this folder's are concerned.)
        local_only = item.path.parent == HERE and item.path.name in LOCAL_ONLY_MODULES
        (drop if backend == "rest" and local_only else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True, params=["sqlite", "rest"])
def tracking_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """This folder's version of the root ``tracking_uri``: once per backend."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    reset_tracking()
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'tracking.db'}"
        spanrun.set_tracking_uri(uri)
        yield uri
        reset_tracking()
        return
    try:
        server = InThreadServer(
            f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts")
        )
    except ImportError as exc:  # a checkout without the server
        pytest.skip(f"spanrun.server is not available: {exc}")
    with server:
        spanrun.set_tracking_uri(server.uri)
        yield server.uri
        reset_tracking()  # flushes async logging through the server before it stops


@pytest.fixture
def client(tracking_uri: str) -> spanrun.SpanrunClient:
    return spanrun.SpanrunClient(tracking_uri)
