"""Tracking stores: where runs, metrics, params, tags and traces are kept.

``get_store(tracking_uri)`` picks the backend from the URI scheme.
"""

from spanrun.store._registry import get_store
from spanrun.store._sqlalchemy_store import SqlAlchemyStore
from spanrun.store.base import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, Store

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "DEFAULT_EXPERIMENT_NAME",
    "SqlAlchemyStore",
    "Store",
    "get_store",
]
