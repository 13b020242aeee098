"""Small helpers shared by the SQL store's modules."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from spanrun.errors import InvalidInputError
from spanrun.tracking.entities import LifecycleStage

__all__ = [
    "ACTIVE",
    "DELETED",
    "RUN_NAME_TAG",
    "check_length",
    "checked_key",
    "chunks",
    "experiment_key",
    "now_ms",
    "to_uri",
]

RUN_NAME_TAG = "mlflow.runName"
ACTIVE = LifecycleStage.ACTIVE.value
DELETED = LifecycleStage.DELETED.value
_CHUNK = 500  # ids per IN (...) when loading rows of many runs or experiments


def check_length(value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise InvalidInputError(f"{what} is {len(value)} characters long; at most {limit} fit")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_uri(location: str) -> str:
    """Plain paths become absolute file:// URIs; URIs are kept as given."""
    if urlparse(location).scheme and len(urlparse(location).scheme) > 1:
        return location.rstrip("/")
    return Path(location).expanduser().resolve().as_uri()


def experiment_key(experiment_id: object) -> int | None:
    """The integer primary key of an experiment id string, or None if it cannot be one."""
    if isinstance(experiment_id, bool):
        return None
    if isinstance(experiment_id, str) and experiment_id.isascii() and experiment_id.isdigit():
        experiment_id = int(experiment_id)
    if isinstance(experiment_id, int) and 0 <= experiment_id < 2**31:  # an INTEGER column
        return experiment_id
    return None


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def checked_key(key: object, what: str) -> str:
    """``key`` if it can be stored as a metric/param/tag key, else InvalidInputError."""
    # Syntax is the client's job (tracking/_validation.py); this only keeps bad input from
    # reaching the database as a confusing driver error.
    if not isinstance(key, str) or not key or len(key) > 250:
        raise InvalidInputError(f"Invalid {what} key {key!r}: a string of 1 to 250 characters")
    return key
