"""Fixtures for the tracking API tests: every test gets its own SQLite store in tmp_path and a
fluent API with no leftover state."""

from __future__ import annotations

import pytest

import spanrun


@pytest.fixture
def client(tracking_uri: str) -> spanrun.SpanrunClient:
    return spanrun.SpanrunClient(tracking_uri)
