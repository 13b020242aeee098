"""Fixtures: a local OpenAI-compatible server acting as the judge, reached through the env
variables a user sets (OPENAI_BASE_URL, OPENAI_API_KEY)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spanrun import _autolog
from spanrun._autolog import _Autolog
from spanrun.store.base import Store
from spanrun.testing.openai_server import OpenAIServer
from spanrun.tracking import _uri


@pytest.fixture(scope="module")
def judge_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(keep_requests=2000) as server:
        yield server


@pytest.fixture
def judge(judge_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIServer:
    """The judge server with fresh counters, set as the OpenAI endpoint of the test."""
    judge_server.clear_requests()
    monkeypatch.setenv("OPENAI_BASE_URL", judge_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-judge-test")
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    return judge_server


@pytest.fixture
def store(tracking_uri: str) -> Store:
    """The tracking store of the test's URI, to read what autolog logged."""
    return _uri.get_store_for_uri(tracking_uri)


@pytest.fixture
def autolog(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Autolog]:
    """``spanrun.autolog`` on a new state, disabled after the test. New, because the judge's
    spans go to the global tracer provider: a state an earlier test used keeps its provider,
    which the test isolation has since removed from OpenTelemetry's global."""
    state = _Autolog()
    for name in ("autolog", "flush", "get_run_exporter", "tracer_provider"):
        monkeypatch.setattr(_autolog, name, getattr(state, name))
    monkeypatch.setattr(_autolog, "_state", state)
    yield state
    state.autolog(disable=True)
