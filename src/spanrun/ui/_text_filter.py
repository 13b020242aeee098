"""The predictions view's text filter: a substring or a regular expression run under a time
budget, so that a pattern with catastrophic backtracking (``(a+)+$``) cannot hang the server."""

from __future__ import annotations

import time

from spanrun.errors import InvalidInputError

__all__ = ["MAX_PATTERN_CHARS", "REGEX_BUDGET_S", "BoundedPattern", "PatternTimeoutError"]

#: Time all of one page's searches may take together.
REGEX_BUDGET_S = 1.0
MAX_PATTERN_CHARS = 1000


class PatternTimeoutError(InvalidInputError):
    """The pattern took longer than the page's budget."""


class BoundedPattern:
    """``text`` (case-insensitive) as a substring, or as a regular expression when ``is_regex``;
    every :meth:`search` shares one budget of ``budget_s`` seconds from the first call."""

    def __init__(self, text: str, is_regex: bool, budget_s: float = REGEX_BUDGET_S) -> None:
        if len(text) > MAX_PATTERN_CHARS:
            raise InvalidInputError(f"The filter is longer than {MAX_PATTERN_CHARS} characters")
        import regex  # here: a server that never filters predictions does not load it (~4 MB)

        try:
            self._pattern = regex.compile(
                text if is_regex else regex.escape(text), regex.IGNORECASE | regex.VERSION0
            )
        except regex.error as exc:
            raise InvalidInputError(f"Invalid regular expression: {exc}") from None
        self._budget_s = budget_s
        self._deadline: float | None = None

    def search(self, text: str) -> bool:
        """Whether the pattern occurs in ``text``; PatternTimeoutError past the budget."""
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._budget_s
        left = self._deadline - now
        try:
            if left <= 0:
                raise TimeoutError
            return self._pattern.search(text, timeout=left) is not None
        except TimeoutError:
            raise PatternTimeoutError(
                f"The regular expression took longer than {self._budget_s:g} s over these "
                "predictions (it may backtrack catastrophically): simplify it"
            ) from None
