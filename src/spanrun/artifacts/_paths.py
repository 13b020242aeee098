"""Safe handling of artifact paths that come from users or the network.

Every relative artifact path goes through :func:`normalize_artifact_path` (pure string checks)
and then :func:`resolve_under` (file-system check, symlinks included) before it touches disk.
Backslashes are treated as separators, so a Windows-style ``..\\..\\x`` is caught on POSIX too.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import stat
from urllib.parse import unquote

from spanrun.errors import UnsafePathError

__all__ = ["is_within", "normalize_artifact_path", "normalize_untrusted_path", "resolve_under"]


def normalize_artifact_path(path: str | os.PathLike[str] | None) -> str:
    """Return ``path`` as a clean '/'-separated path relative to an artifact root.

    ``None``, ``""`` and ``"."`` mean the root and give ``""``. Raise UnsafePathError for
    absolute paths, drive letters, NUL bytes and ``..`` components that climb above the root.
    """
    if path is None:
        return ""
    try:
        raw = os.fspath(path)
    except TypeError:
        raise UnsafePathError(f"Artifact path must be a string, got {path!r}") from None
    if not isinstance(raw, str):
        raise UnsafePathError(f"Artifact path must be a string, got {type(raw).__name__}")
    if "\x00" in raw:
        raise UnsafePathError(f"Artifact path contains a NUL byte: {raw!r}")
    unified = raw.replace("\\", "/")
    drive, _ = ntpath.splitdrive(unified)
    if drive:
        raise UnsafePathError(f"Artifact path must be relative, got a drive: {raw!r}")
    if unified.startswith("/"):
        raise UnsafePathError(f"Artifact path must be relative: {raw!r}")
    normalized = posixpath.normpath(unified) if unified else "."
    if normalized == ".." or normalized.startswith("../"):
        raise UnsafePathError(f"Artifact path escapes the artifact root: {raw!r}")
    return "" if normalized == "." else normalized


# Percent-decoding rounds before a path that still decodes to something else is refused.
_DECODE_ROUNDS = 4


def normalize_untrusted_path(path: str | None) -> str:
    """:func:`normalize_artifact_path` for a path that came over the network, stricter.

    The path is percent-decoded until it no longer changes (so ``%2e%2e`` and ``%252e%252e``
    are seen as ``..``); then any ``..`` component (even one that would stay inside the root),
    backslash, ``#``, ``?``, control character, invalid UTF-8 (or its replacement character),
    absolute path or drive is refused with UnsafePathError rather than normalised away.
    """
    if path is None:
        return ""
    if not isinstance(path, str):
        raise UnsafePathError(f"Artifact path must be a string, got {type(path).__name__}")
    decoded = path
    for _ in range(_DECODE_ROUNDS):
        try:
            once = unquote(decoded, errors="strict") if "%" in decoded else decoded
        except UnicodeDecodeError:
            raise UnsafePathError(f"Artifact path is not valid UTF-8: {path!r}") from None
        if once == decoded:
            break
        decoded = once
    else:
        raise UnsafePathError(f"Artifact path is encoded too many times: {path!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in decoded):
        raise UnsafePathError(f"Artifact path contains a control character: {path!r}")
    if "\ufffd" in decoded:  # what servers decode invalid UTF-8 (e.g. overlong "%c0%ae") to
        raise UnsafePathError(f"Artifact path is not valid UTF-8: {path!r}")
    if any(c in decoded for c in "\\#?"):
        raise UnsafePathError(f"Artifact path contains a backslash, '#' or '?': {path!r}")
    if ".." in decoded.split("/"):
        raise UnsafePathError(f"Artifact path contains a '..' component: {path!r}")
    return normalize_artifact_path(decoded)


def is_within(root_real: str, candidate: str) -> bool:
    """True when ``candidate`` (after resolving symlinks) is ``root_real`` or below it."""
    real = os.path.realpath(candidate)
    try:
        return os.path.commonpath([root_real, real]) == root_real
    except ValueError:  # different drives on Windows
        return False


def resolve_under(
    root: str, path: str | os.PathLike[str] | None, root_real: str | None = None
) -> tuple[str, str]:
    """Return ``(relative, absolute)`` for ``path`` under the directory ``root``.

    Symlinks on the way are resolved and must stay inside the (resolved) root; pass
    ``root_real`` when the caller already knows ``os.path.realpath(root)``.
    """
    relative = normalize_artifact_path(path)
    if root_real is None:
        root_real = os.path.realpath(root)
    if not relative:
        return relative, root_real
    absolute = os.path.join(root_real, *relative.split("/"))
    # Only a symlink below the root can lead elsewhere: lstat each existing component and do
    # the full (slower) realpath check only when one is a link.
    current = root_real
    for part in relative.split("/"):
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            break  # the rest does not exist yet, so it holds no link
        if stat.S_ISLNK(mode):
            if not is_within(root_real, absolute):
                raise UnsafePathError(f"Artifact path resolves outside the artifact root: {path!r}")
            break
    return relative, absolute
