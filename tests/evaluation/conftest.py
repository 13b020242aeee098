"""Fixtures: the local OpenAI-compatible server as the environment's OpenAI endpoint, and an
autolog state that each test leaves off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import spanrun
from spanrun import _autolog
from spanrun.store.base import Store
from spanrun.testing.openai_server import OpenAIServer
from spanrun.tracking import get_store_for_uri


@pytest.fixture
def openai_env(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIServer:
    """OPENAI_BASE_URL/OPENAI_API_KEY pointing at the local server (what a model spec's client
    reads), with no retries to wait for."""
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    return openai_server


@pytest.fixture(autouse=True)
def _autolog_off_after() -> Iterator[None]:
    yield
    if _autolog._state.instrumentors:
        spanrun.autolog(disable=True)


@pytest.fixture
def store(tracking_uri: str) -> Store:
    return get_store_for_uri(tracking_uri)
