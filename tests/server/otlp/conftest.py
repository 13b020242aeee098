"""OTLP receiver test fixtures: the receiver in a real uvicorn process, a real openai client."""

from __future__ import annotations

from tests.e2e.conftest import client, store  # noqa: F401
from tests.server.otlp._fixtures import (  # noqa: F401
    receiver,
    receiver_factory,
    shared_receiver,
)
