"""Credentials for a tracking server, from the environment (core layer).

``SPANRUN_TRACKING_TOKEN`` (or ``MLFLOW_TRACKING_TOKEN``, as the mlflow client reads it) is sent
as ``Authorization: Bearer <token>``; otherwise ``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD`` as basic auth. Read at each request, so a token set after the first
call is used. Shared by the REST store and the artifacts-server repository.
"""

from __future__ import annotations

import base64
import os

__all__ = ["auth_headers"]


def auth_headers() -> dict[str, str]:
    """The ``Authorization`` header the environment asks for, or ``{}``."""
    token = os.environ.get("SPANRUN_TRACKING_TOKEN") or os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {encoded}"}
    return {}
