"""OTLP receiver test fixtures: the receiver in a real uvicorn process, a real openai client."""

from __future__ import annotations

from tests.e2e.conftest import client, store  # noqa: F401
from tests.server.otlp._fixtures import receiver, receiver_factory  # noqa: F401
