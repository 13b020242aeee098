"""End-to-end fixtures: a fresh SQLite store per test, spanrun's local OpenAI server, a real
openai client, and an autolog state that is undone after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import openai
from spanrun._autolog import _Autolog
from spanrun.store.base import RunWriter, Store
from spanrun.testing.fixtures import openai_server  # noqa: F401
from spanrun.testing.openai_server import OpenAIServer
from spanrun.tracking import _uri


@pytest.fixture
def store(tracking_uri: str) -> Store:
    """The tracking store of the test's URI, to read what autolog logged."""
    return _uri.get_store_for_uri(tracking_uri)


@pytest.fixture
def export_writer(tracking_uri: str) -> RunWriter:
    """The run writer autolog's exporter writes through (on SQLite, the SQLAlchemy-free one), so
    fault tests patch what the exporter calls."""
    return _uri.get_export_store_for_uri(tracking_uri)


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
