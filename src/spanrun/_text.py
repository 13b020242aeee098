"""Text every store can keep (core layer, no dependencies).

SQLite would store a NUL character but PostgreSQL refuses it, and a lone surrogate (``"\\ud800"``,
or what ``errors="surrogateescape"`` decoding leaves for an undecodable byte) cannot be encoded
as UTF-8 for any database. Text that comes from spans must still be stored, so it is repaired.
"""

from __future__ import annotations

__all__ = ["storable_text"]

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
