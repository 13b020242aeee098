"""Finding text no store can keep: NUL characters and lone surrogates (core layer).

SQLite would store a NUL but PostgreSQL refuses it, and a lone surrogate (``"\\ud800"``, or the
``"\\udcff"`` that ``errors="surrogateescape"`` decoding leaves for an undecodable byte) cannot be
encoded as UTF-8 for any database or file. The tracking API and the search parser refuse both up
front, so every store behaves the same and the user gets a typed error saying what to change.
"""

from __future__ import annotations

__all__ = ["bad_character", "describe_bad_character", "storable_text"]


def bad_character(text: str, allow_nul: bool = False) -> int | None:
    """Index of the first NUL (unless ``allow_nul``) or lone surrogate in ``text``, or None."""
    nul = -1 if allow_nul else text.find("\x00")
    if text.isascii():  # the usual case: one fast scan, nothing to encode
        return nul if nul >= 0 else None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start if nul < 0 else min(nul, exc.start)
    return nul if nul >= 0 else None


def describe_bad_character(text: str, index: int) -> str:
    """What is wrong at ``text[index]`` and how to fix it (to follow "<what> contains ...")."""
    if text[index] == "\x00":
        return (
            f"a NUL character (\\x00) at position {index}, which PostgreSQL cannot store; "
            "remove or replace it"
        )
    return (
        f"a lone surrogate {text[index]!r} at position {index}, which is not valid Unicode "
        "(text decoded with errors='surrogateescape'?); encode it back to bytes, e.g. "
        "s.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace'), or replace it"
    )


# Span data is the exception to refusing such text: it comes from the user's program and must
# never be refused (one odd span would fail a whole export batch), so the exporter stores it
# repaired, the same on every store.
_REPLACEMENT = "\ufffd"


def storable_text(text: str) -> str:
    """``text`` with each NUL character and lone surrogate replaced by U+FFFD."""
    if text.isascii():  # the usual case: one fast scan, nothing to encode
        return text.replace("\x00", _REPLACEMENT) if "\x00" in text else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join(_REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text.replace("\x00", _REPLACEMENT) if "\x00" in text else text
