"""When and after how long a failed judge call is retried: the ``openai`` client's rules.

The judge retries itself (the client's ``max_retries`` is 0) so that every attempt goes through
the evaluation's adaptive window and every 429 reaches it; the rules are the client's, so a
judge behaves as the ``openai`` client users know: 408, 409, 429 and 5xx are retried unless the
server says ``x-should-retry: false``, ``retry-after-ms`` / ``Retry-After`` (seconds or a date)
is honoured up to a minute, otherwise 0.5 s doubling up to 8 s, less up to 25% jitter.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping

__all__ = ["OVERLOADED", "backoff", "retry_after", "server_wait", "should_retry"]

#: The answers that say "too many calls": the adaptive window halves on them.
OVERLOADED = frozenset({429, 503})
_RETRIED = frozenset({408, 409, 429})
_MAX_RETRY_AFTER_S = 60.0
_INITIAL_DELAY_S = 0.5
_MAX_DELAY_S = 8.0


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait (``retry-after-ms``, ``Retry-After``), or None."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) else None
    date = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(date) if date else None
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed) - time.time())


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an error answer is worth another attempt (the ``openai`` client's rule)."""
    wait = retry_after(headers)
    if wait is not None and wait > _MAX_RETRY_AFTER_S:
        return False
    verdict = headers.get("x-should-retry")
    if verdict in ("true", "false"):
        return verdict == "true"
    return status in _RETRIED or status >= 500


def server_wait(headers: Mapping[str, str]) -> float | None:
    """The server's ``Retry-After`` when it is one to honour (more than 0, at most a minute)."""
    wait = retry_after(headers)
    return wait if wait is not None and 0 < wait <= _MAX_RETRY_AFTER_S else None


def backoff(attempt: int, headers: Mapping[str, str] | None = None) -> float:
    """Seconds before retry ``attempt + 1``: the server's ``Retry-After`` when sensible, else
    exponential backoff with jitter."""
    wait = server_wait(headers) if headers is not None else None
    if wait is not None:
        return wait
    delay = min(_INITIAL_DELAY_S * 2.0 ** min(attempt, 64), _MAX_DELAY_S)
    return delay * (1 - 0.25 * random.random())
