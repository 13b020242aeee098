"""Bounded retry and error translation of raw write transactions (no SQLAlchemy needed).

Shared by ``Database.write_raw`` (SqlAlchemyStore) and ``SqliteDatabase``: lock timeouts
("database is locked"), deadlocks and serialization failures are retried with backoff, a
dropped connection at once, a unique-key race (``retry_integrity``) twice; whatever is left is
raised as :class:`~spanrun.errors.StoreError`. spanrun's own errors pass through untouched.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from spanrun.errors import SpanrunError, StoreError

__all__ = ["MAX_ATTEMPTS", "Disconnected", "backoff", "is_transient", "retry_read", "retry_write"]

T = TypeVar("T")

MAX_ATTEMPTS = 8
# PostgreSQL serialization failure and deadlock: safe to retry the whole transaction.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


class Disconnected(Exception):
    """A pooled connection was dropped mid-transaction; the transaction is retried."""


def is_transient(error: BaseException) -> bool:
    """Lock timeouts, deadlocks, serialization failures and dropped connections."""
    cause: BaseException | None = error
    # SQLAlchemy's DBAPIError wraps the driver's error in ``orig`` (duck-typed: this module
    # must not import SQLAlchemy).
    if getattr(error, "connection_invalidated", False):
        return True
    orig = getattr(error, "orig", None)
    if isinstance(orig, BaseException):
        cause = orig
    if getattr(cause, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    message = str(cause).lower()
    return (
        "database is locked" in message
        or "database table is locked" in message
        or ("database is busy" in message)
    )


def backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.02 * 2**attempt) * (0.5 + random.random()))


def retry_write(
    attempt: Callable[[], T],
    *,
    dbapi: ModuleType | Any = sqlite3,
    retry_integrity: bool = False,
    other_errors: tuple[type[BaseException], ...] = (),
) -> T:
    """Run ``attempt()`` (one whole transaction) until it succeeds or gives up.

    ``dbapi`` is the driver module whose ``Error`` / ``IntegrityError`` are translated;
    ``other_errors`` are further exceptions treated like driver errors (SQLAlchemy's).
    """
    errors = (dbapi.Error, *other_errors)
    for n in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except SpanrunError:
            raise
        except Disconnected as e:
            if n < MAX_ATTEMPTS - 1:
                continue
            raise StoreError(f"Database error: {e.__cause__}") from e.__cause__
        except dbapi.IntegrityError as e:
            if retry_integrity and n < 2:
                continue
            raise StoreError(f"Database integrity error: {e}") from e
        except errors as e:
            if is_transient(e) and n < MAX_ATTEMPTS - 1:
                backoff(n)
                continue
            raise StoreError(f"Database error: {e}") from e
    raise AssertionError("unreachable")  # pragma: no cover


def retry_read(attempt: Callable[[], T], *, dbapi: ModuleType | Any = sqlite3) -> T:
    """Like :func:`retry_write` for a read transaction (lock errors retried with backoff)."""
    for n in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except SpanrunError:
            raise
        except dbapi.Error as e:
            if is_transient(e) and n < MAX_ATTEMPTS - 1:
                backoff(n)
                continue
            raise StoreError(f"Database error: {e}") from e
    raise AssertionError("unreachable")  # pragma: no cover
