"""Tracking: the client with explicit ids, the fluent API, entities, and where data goes.

``from spanrun.tracking import MlflowClient`` works like ``from mlflow.tracking import
MlflowClient``. The fluent functions live at the package top level (``spanrun.start_run``).
"""

from spanrun.tracking._uri import get_tracking_uri, is_tracking_uri_set, set_tracking_uri
from spanrun.tracking.client import MlflowClient, SpanrunClient

__all__ = [
    "MlflowClient",
    "SpanrunClient",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_tracking_uri",
]
