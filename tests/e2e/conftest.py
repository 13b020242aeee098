"""End-to-end fixtures: a fresh SQLite store per test, spanrun's local OpenAI server, a real
openai client, and an autolog state that is undone after each test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import openai
import spanrun
from spanrun._autolog import _Autolog
from spanrun.store.base import Store
from spanrun.testing.fixtures import openai_server  # noqa: F401
from spanrun.testing.openai_server import OpenAIServer
from spanrun.tracking import _async_logging, _uri
from spanrun.tracking.fluent import tracker

_ENV_VARS = (
    "SPANRUN_TRACKING_URI",
    "SPANRUN_RUN_ID",
    "SPANRUN_EXPERIMENT_ID",
    "SPANRUN_EXPERIMENT_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
)


def _reset() -> None:
    while spanrun.active_run() is not None:
        with contextlib.suppress(Exception):
            spanrun.end_run()
    with contextlib.suppress(Exception):
        _async_logging.flush()
    tracker.reset()
    _uri._state.reset()


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    _reset()
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    spanrun.set_tracking_uri(uri)
    yield uri
    _reset()


@pytest.fixture
def store(tracking_uri: str) -> Store:
    return _uri.get_store_for_uri(tracking_uri)


@pytest.fixture
def autolog() -> Iterator[_Autolog]:
    """A private autolog state (same code as ``spanrun.autolog``), disabled after the test."""
    state = _Autolog()
    yield state
    state.autolog(disable=True)


@pytest.fixture
def client(openai_server: OpenAIServer) -> openai.OpenAI:  # noqa: F811
    return openai.OpenAI(base_url=openai_server.base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def async_client(openai_server: OpenAIServer) -> openai.AsyncOpenAI:  # noqa: F811
    return openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="test-key", max_retries=0)
