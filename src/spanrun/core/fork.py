"""Fork hooks that do not keep their object alive (core layer, no spanrun imports)."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

__all__ = ["on_fork"]


def on_fork(method: Callable[[], object], *, before: bool = False) -> None:
    """Call the bound ``method`` in every forked child (or, with ``before``, in the parent just
    before each fork) for as long as its object lives. ``os.register_at_fork`` hooks cannot be
    removed, so they hold the object weakly: short-lived objects (tests make many) are freed.
    Nothing happens where there is no fork (Windows)."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.WeakMethod(method)

    def hook() -> None:
        bound = ref()
        if bound is not None:
            bound()

    if before:
        os.register_at_fork(before=hook)
    else:
        os.register_at_fork(after_in_child=hook)
