"""The exporter's retry policy (``_retry.RetryPolicy``)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from spanrun.errors import InvalidInputError, NotFoundError, StoreError
from spanrun.exporters._retry import RetryPolicy


def _policy(warned: list[tuple[str, str]], attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts, 0.0, lambda key, message: warned.append((key, message)))


def _failing(*errors: Exception) -> Any:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "done"

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_store_failures_are_retried_until_they_pass() -> None:
    policy = _policy([])
    fn = _failing(StoreError("locked"), OSError("disk"))
    assert policy.run("write", fn) == (True, "done")
    assert len(fn.calls) == 3
    assert not policy.store_down


def test_giving_up_marks_the_store_down_and_later_operations_fail_fast(caplog) -> None:
    policy = _policy([], attempts=2)
    fn = _failing(StoreError("a"), StoreError("b"))
    assert policy.run("write", fn) == (False, None)
    assert len(fn.calls) == 2
    assert policy.store_down
    assert "gave up trying to write after 2 attempts" in caplog.text
    other = _failing()
    assert policy.run("other", other) == (False, None)
    assert other.calls == []  # not even tried
    policy.store_down = False
    assert policy.run("other", other) == (True, "done")


def test_store_down_is_per_thread() -> None:
    policy = _policy([], attempts=1)
    policy.run("write", _failing(StoreError("x")))
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(policy.store_down))
    thread.start()
    thread.join()
    assert policy.store_down and seen == [False]


def test_not_found_is_warned_once_per_what_or_raised() -> None:
    warned: list[tuple[str, str]] = []
    policy = _policy(warned)
    fn = _failing(NotFoundError("no run"))
    assert policy.run("read run r", fn) == (False, None)
    assert len(fn.calls) == 1 and warned == [("read run r", "spanrun: cannot read run r: no run")]
    with pytest.raises(NotFoundError):
        policy.run("read", _failing(NotFoundError("gone")), raise_not_found=True)


def test_bad_input_is_not_retried() -> None:
    policy = _policy([])
    fn = _failing(InvalidInputError("bad"), InvalidInputError("bad"))
    assert policy.run("write", fn) == (False, None)
    assert len(fn.calls) == 1
    assert not policy.store_down


def test_at_least_one_attempt() -> None:
    assert RetryPolicy(0, 0.0, lambda k, m: None).max_attempts == 1
