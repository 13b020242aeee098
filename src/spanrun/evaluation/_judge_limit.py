"""One evaluation-wide bound on the judge calls in flight.

``evaluate`` runs independent judge metrics at the same time; every judge call of the
evaluation takes a slot of one :class:`JudgeLimit` first, so the endpoint never sees more than
``max_in_flight`` calls from it, however many metrics there are. The bound comes from
``evaluator_config["max_in_flight"]``, else the ``SPANRUN_EVAL_MAX_IN_FLIGHT`` environment
variable, else :data:`DEFAULT_MAX_IN_FLIGHT`.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from spanrun.errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "MAX_IN_FLIGHT_ENV",
    "JudgeLimit",
    "current_judge_limit",
    "judge_limit",
    "max_in_flight",
]

#: Judge calls in flight per evaluation by default (see the README's "LLM judges" section).
DEFAULT_MAX_IN_FLIGHT = 50
MAX_IN_FLIGHT_ENV = "SPANRUN_EVAL_MAX_IN_FLIGHT"
_CONFIG_KEY = "max_in_flight"

_current: contextvars.ContextVar[JudgeLimit | None] = contextvars.ContextVar(
    "spanrun_judge_limit", default=None
)


class JudgeLimit:
    """At most ``size`` judge calls at once; :meth:`cancel` stops the calls not started."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._cancelled = threading.Event()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``size`` slots for the duration of a judge call."""
        with self._slots:
            yield

    def cancel(self) -> None:
        """The evaluation stops (Ctrl-C): judge calls not started yet are not sent."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


def _positive(value: Any, where: str) -> int:
    if isinstance(value, str):
        with suppress(ValueError):
            value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(f"{where} must be a positive integer, got {value!r}")
    return value


def max_in_flight(config: Mapping[str, Any]) -> int:
    """The evaluation's bound: ``config["max_in_flight"]``, the environment, or the default."""
    if config.get(_CONFIG_KEY) is not None:
        return _positive(config[_CONFIG_KEY], f"evaluator_config[{_CONFIG_KEY!r}]")
    env = os.environ.get(MAX_IN_FLIGHT_ENV)
    if env:
        return _positive(env, MAX_IN_FLIGHT_ENV)
    return DEFAULT_MAX_IN_FLIGHT


@contextmanager
def judge_limit(size: int) -> Iterator[JudgeLimit]:
    """Make a :class:`JudgeLimit` of ``size`` the current one (this context and its copies)."""
    limit = JudgeLimit(size)
    token = _current.set(limit)
    try:
        yield limit
    finally:
        _current.reset(token)


def current_judge_limit() -> JudgeLimit | None:
    """The evaluation's :class:`JudgeLimit`, or None outside ``evaluate``."""
    return _current.get()
