"""Reusable pytest fixtures; import them into a ``conftest.py``::

from spanrun.testing.fixtures import openai_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spanrun.testing.openai_server import OpenAIServer

__all__ = ["openai_server"]


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAIServer]:
    """A local OpenAI-compatible server for the whole test session."""
    with OpenAIServer() as server:
        yield server
