"""One evaluation-wide, adaptive bound on the judge calls in flight.

``evaluate`` runs independent judge metrics at the same time; every judge call of the
evaluation takes a slot of one :class:`JudgeLimit` first, so the endpoint sees the calls of all
metrics under one window. The window adapts as TCP's congestion window does (AIMD, as Netflix's
concurrency-limits for services): it starts at :data:`INITIAL_IN_FLIGHT`, doubles every round
trip while calls succeed (slow start), halves when the endpoint answers "overloaded" (429/503),
and after that grows by one per round trip. It never goes above the ceiling, nor below 1. The
ceiling comes from ``evaluator_config["max_in_flight"]``, else the ``SPANRUN_EVAL_MAX_IN_FLIGHT``
environment variable, else :data:`DEFAULT_MAX_IN_FLIGHT`. A ``Retry-After`` the endpoint sends
holds back every call of the evaluation until then (a rate limit is the key's, not one call's).
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import Enum
from typing import Any

from spanrun.errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "INITIAL_IN_FLIGHT",
    "MAX_IN_FLIGHT_ENV",
    "JudgeLimit",
    "Outcome",
    "Slot",
    "current_judge_limit",
    "judge_limit",
    "max_in_flight",
]

#: The ceiling of judge calls in flight per evaluation by default (README, "LLM judges").
DEFAULT_MAX_IN_FLIGHT = 128
#: The window an evaluation starts with (MLflow runs 10 judge calls at once).
INITIAL_IN_FLIGHT = 16
MAX_IN_FLIGHT_ENV = "SPANRUN_EVAL_MAX_IN_FLIGHT"
_CONFIG_KEY = "max_in_flight"

_current: contextvars.ContextVar[JudgeLimit | None] = contextvars.ContextVar(
    "spanrun_judge_limit", default=None
)


class Outcome(Enum):
    """How a judge call ended, as the window sees it."""

    OK = "ok"  #: answered (whatever the answer says): the window may grow
    OVERLOADED = "overloaded"  #: 429 or 503: the window halves
    FAILED = "failed"  #: any other failure: the window stays


@dataclass(frozen=True)
class Slot:
    """A call's hold on the window: which window it was sent under (``generation``, and its
    size), and the calls in flight when it started, itself included."""

    generation: int
    window: int
    in_flight: int


class JudgeLimit:
    """An adaptive window of judge calls in flight, between 1 and ``ceiling``.

    :meth:`acquire` a slot before a call and :meth:`release` it with the call's
    :class:`Outcome`; :meth:`cancel` stops the calls not started.
    """

    def __init__(self, ceiling: int, initial: int = INITIAL_IN_FLIGHT) -> None:
        self.ceiling = ceiling
        self._window = float(max(1, min(initial, ceiling)))
        # Slow start (one more slot per call answered) up to here: the ceiling until the first
        # overload, then half the window at that overload (TCP's ssthresh).
        self._threshold = float(ceiling)
        self._in_flight = 0
        self._generation = 0  # one more at each halving
        self._resume_at = 0.0  # no call starts before this (the endpoint's Retry-After)
        self._changed = threading.Condition()
        self._cancelled = threading.Event()
        #: The lowest and highest window reached, and the overloaded answers seen.
        self.lowest = self.highest = int(self._window)
        self.overloads = 0

    @property
    def window(self) -> int:
        """The judge calls that may be in flight now."""
        return int(self._window)

    def acquire(self) -> Slot | None:
        """Wait for a free slot (and any ``Retry-After`` pause); None if cancelled meanwhile."""
        with self._changed:
            while not self._cancelled.is_set():
                pause = self._resume_at - time.monotonic()
                if pause > 0:
                    self._changed.wait(pause)
                elif self._in_flight < int(self._window):
                    self._in_flight += 1
                    if self._in_flight < int(self._window):
                        self._changed.notify()  # pass on a wake-up a pause may have taken
                    return Slot(self._generation, int(self._window), self._in_flight)
                else:
                    self._changed.wait()
            return None

    def release(self, slot: Slot, outcome: Outcome, retry_after: float | None = None) -> None:
        """Give the slot back; ``outcome`` adapts the window, ``retry_after`` (seconds) pauses
        every call that has not started yet."""
        with self._changed:
            if outcome is Outcome.OVERLOADED:
                self.overloads += 1
                # The calls sent under one window are one overload event: the window halves
                # once for them, not once per call (with 64 in flight, 30 429s must not take it
                # to 1).
                if slot.generation == self._generation:
                    self._window = max(1.0, self._window / 2)
                    self._threshold = self._window
                    self._generation += 1
                    self.lowest = min(self.lowest, int(self._window))
            elif outcome is Outcome.OK and 2 * max(slot.in_flight, self._in_flight) >= slot.window:
                # Only a window in use grows (half full or more when the call started or ended):
                # one kept half empty proves nothing about the endpoint's capacity.
                step = 1.0 if self._window < self._threshold else 1.0 / self._window
                self._window = min(float(self.ceiling), self._window + step)
                self.highest = max(self.highest, int(self._window))
            if retry_after is not None and retry_after > 0:
                self._resume_at = max(self._resume_at, time.monotonic() + retry_after)
            self._in_flight -= 1
            # Wake as many waiters as there are free slots (not all: hundreds may wait).
            self._changed.notify(max(1, int(self._window) - self._in_flight))

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` (a retry's backoff); True if the evaluation was cancelled."""
        return self._cancelled.wait(seconds)

    def cancel(self) -> None:
        """The evaluation stops (Ctrl-C): judge calls not started yet are not sent."""
        self._cancelled.set()
        with self._changed:
            self._changed.notify_all()

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
    """The evaluation's ceiling: ``config["max_in_flight"]``, the environment, or the default."""
    if config.get(_CONFIG_KEY) is not None:
        return _positive(config[_CONFIG_KEY], f"evaluator_config[{_CONFIG_KEY!r}]")
    env = os.environ.get(MAX_IN_FLIGHT_ENV)
    if env:
        return _positive(env, MAX_IN_FLIGHT_ENV)
    return DEFAULT_MAX_IN_FLIGHT


@contextmanager
def judge_limit(ceiling: int) -> Iterator[JudgeLimit]:
    """Make a :class:`JudgeLimit` of ``ceiling`` the current one (this context and its copies)."""
    limit = JudgeLimit(ceiling)
    token = _current.set(limit)
    try:
        yield limit
    finally:
        _current.reset(token)


def current_judge_limit() -> JudgeLimit | None:
    """The evaluation's :class:`JudgeLimit`, or None outside ``evaluate``."""
    return _current.get()
