"""The one internal-error policy (``spanrun.core.internal_errors``)."""

from __future__ import annotations

import logging

import pytest

from spanrun.core import internal_errors as policy


@pytest.fixture(autouse=True)
def _fresh() -> None:
    policy.reset()


def _fail(what: str) -> None:
    try:
        raise RuntimeError("bug")
    except RuntimeError:
        policy.report(what)


def test_swallowed_and_logged_once_per_site(monkeypatch, caplog) -> None:
    monkeypatch.delenv(policy.RAISE_ENV, raising=False)
    with caplog.at_level(logging.DEBUG, logger="spanrun"):
        _fail("doing a")
        _fail("doing a")
        _fail("doing b")
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        (
            logging.WARNING,
            "spanrun: internal error while doing a; your code still runs, with less telemetry",
        ),
        (logging.DEBUG, "spanrun: internal error while doing a (2 times)"),
        (
            logging.WARNING,
            "spanrun: internal error while doing b; your code still runs, with less telemetry",
        ),
    ]
    assert all(r.exc_info for r in caplog.records)
    assert policy.error_counts() == {"doing a": 2, "doing b": 1}


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_reraised_when_asked(monkeypatch, value) -> None:
    monkeypatch.setenv(policy.RAISE_ENV, value)
    assert policy.raise_enabled()
    with pytest.raises(RuntimeError, match="bug"):
        _fail("doing c")
    assert policy.error_counts() == {"doing c": 1}


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_not_reraised_otherwise(monkeypatch, value) -> None:
    monkeypatch.setenv(policy.RAISE_ENV, value)
    assert not policy.raise_enabled()
    _fail("doing d")


def test_the_test_suite_reraises() -> None:
    assert policy.raise_enabled()  # set by tests/conftest.py


def test_context_manager_swallows_exceptions_only(monkeypatch, caplog) -> None:
    monkeypatch.delenv(policy.RAISE_ENV, raising=False)
    own = logging.getLogger("spanrun.somewhere")
    with (
        caplog.at_level(logging.WARNING, logger="spanrun"),
        policy.internal_errors("doing e", logger=own),
    ):
        raise ValueError("bug")
    assert [r.name for r in caplog.records] == ["spanrun.somewhere"]
    with pytest.raises(KeyboardInterrupt), policy.internal_errors("doing f"):
        raise KeyboardInterrupt


def test_sites_are_bounded(monkeypatch, caplog) -> None:
    monkeypatch.delenv(policy.RAISE_ENV, raising=False)
    monkeypatch.setattr(policy, "_MAX_SITES", 2)
    with caplog.at_level(logging.WARNING, logger="spanrun"):
        for i in range(5):
            _fail(f"site {i}")
    assert len(policy.error_counts()) == 2
    assert len(caplog.records) == 2  # past the cap a new site is treated as seen
