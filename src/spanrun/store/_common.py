"""Small helpers shared by the SQL store's modules."""

from __future__ import annotations

import os
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from spanrun.core.entities import LifecycleStage, RunStatus, RunTag
from spanrun.core.run_names import generate_run_name
from spanrun.core.text import bad_character
from spanrun.core.vocabulary import RUN_NAME_TAG
from spanrun.errors import InvalidInputError

__all__ = [
    "ACTIVE",
    "DELETED",
    "check_length",
    "checked_key",
    "chunks",
    "experiment_key",
    "int64",
    "new_run_fields",
    "now_ms",
    "reset_in_forked_child",
    "run_info_values",
    "to_uri",
]

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
    if bad_character(key) is not None:  # PostgreSQL refuses NUL; no store keeps a surrogate
        raise InvalidInputError(f"Invalid {what} key {key!r}: NUL or a lone surrogate")
    return key


def checked_id(value: str, what: str) -> str:
    """``value`` (a run, experiment, trace or span id) if every store can hold it, else
    InvalidInputError (PostgreSQL refuses NUL, no store keeps a lone surrogate)."""
    if bad_character(value) is not None:
        raise InvalidInputError(f"Invalid {what} {value!r}: NUL or a lone surrogate")
    return value


_INT64 = 2**63


def int64(value: object, what: str) -> int:
    """``value`` as a 64-bit integer (a time in ms), or a typed error naming ``what``."""
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = _INT64
    if not -_INT64 <= number < _INT64:
        raise InvalidInputError(f"Invalid {what} {value!r}: a 64-bit integer (ms since the epoch)")
    return number


def new_run_fields(
    run_name: str | None, user_id: str, start_time: int | None, tags: Sequence[RunTag]
) -> tuple[str, str, int, dict[str, str]]:
    """A new run's (run_id, name, start_time, tags), checked; the name is also a tag."""
    tag_map = {checked_key(t.key, "tag"): str(t.value) for t in tags}

    name = run_name or tag_map.get(RUN_NAME_TAG) or generate_run_name()
    check_length(name, 250, "Run name")
    check_length(user_id or "", 256, "User id")
    start = now_ms() if start_time is None else int64(start_time, "start_time")
    tag_map[RUN_NAME_TAG] = name  # MLflow keeps the name in this tag too
    return uuid.uuid4().hex, name, start, tag_map


def run_info_values(
    status: str | None, end_time: int | None, run_name: str | None
) -> dict[str, Any]:
    """The ``runs`` columns ``update_run_info`` sets, checked (keys are column names)."""
    values: dict[str, Any] = {}
    if status is not None:
        status = str(status)
        if status not in RunStatus.__members__:
            raise InvalidInputError(
                f"Invalid run status {status!r} (expected one of "
                f"{', '.join(RunStatus.__members__)})"
            )
        values["status"] = status
    if end_time is not None:
        values["end_time"] = int64(end_time, "end_time")
    if run_name:
        check_length(run_name, 250, "Run name")
        values["run_name"] = run_name
    return values


# Every open store, so that a forked child drops the connections it inherited.
_stores_to_reset: weakref.WeakSet[Any] = weakref.WeakSet()


def reset_in_forked_child(store: Any) -> None:
    """Have ``store._after_fork_in_child()`` called in forked children (held weakly)."""
    _stores_to_reset.add(store)


def _reset_stores_after_fork() -> None:
    for store in list(_stores_to_reset):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reset_stores_after_fork)
