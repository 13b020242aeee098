"""Shared helpers for monkeypatching instrumentations (wrapt based).

- :func:`report_internal_error`, :func:`internal_errors`: :mod:`spanrun.core.internal_errors`
  (the one policy: logged once per site and swallowed, re-raised under
  ``SPANRUN_RAISE_INTERNAL_ERRORS``), logged under ``spanrun.instrumentation``.
- :class:`Patcher`: wraps and unwraps methods on classes from one table of targets, importing
  nothing eagerly (modules not imported yet are wrapped when imported); each (class, method)
  is wrapped at most once. A method another library already wrapped with wrapt (OTel's
  instrumentors) gets our wrapper *beneath* theirs, so theirs stays the outer one whichever was
  enabled first (an instrumentor then records into their open span: one span per call).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wrapt

from spanrun.core import internal_errors as _policy

__all__ = ["Patcher", "Target", "internal_errors", "report_internal_error"]

logger = logging.getLogger("spanrun.instrumentation")


def report_internal_error(what: str) -> None:
    """Report the exception being handled (call from an ``except`` block); see the policy."""
    _policy.report(what, logger=logger)


def internal_errors(what: str) -> contextlib.AbstractContextManager[None]:
    """A block of our own code whose exceptions go to :func:`report_internal_error`."""
    return _policy.internal_errors(what, logger=logger)


@dataclass(frozen=True)
class Target:
    """One method to wrap: ``module`` is imported, ``cls`` looked up in it, ``method`` wrapped."""

    module: str
    cls: str
    method: str
    make_wrapper: Callable[[], Callable[..., Any]]


class Patcher:
    """Applies a table of targets and removes exactly the wrappers it installed.

    A target whose module is not imported yet is wrapped when (and if) the program imports it,
    through a wrapt post-import hook: instrumenting never imports parts of a library the
    program does not use (for openai, the resources other than the ones called: ~3.6 MB).
    """

    def __init__(self) -> None:
        self._installed: list[tuple[type, str, Any]] = []
        self._deferred: dict[str, list[Target]] = {}  # module name -> targets waiting for it
        self._hooked: set[str] = set()  # modules with a post-import hook (one is enough)
        self._lock = threading.RLock()

    @property
    def active(self) -> bool:
        return bool(self._installed or self._deferred)

    def apply(self, targets: list[Target]) -> list[str]:
        """Wrap every target that exists in the installed library; return the skipped ones.

        Targets of modules not imported yet are deferred to their import (not skipped).
        """
        with self._lock:
            now = []
            for target in targets:
                if target.module in sys.modules:
                    now.append(target)
                    continue
                self._deferred.setdefault(target.module, []).append(target)
                if target.module not in self._hooked:
                    self._hooked.add(target.module)
                    wrapt.when_imported(target.module)(self._on_import)
            return self._wrap(now)

    def _on_import(self, module: Any) -> None:
        with internal_errors(f"instrumenting {module.__name__}"), self._lock:
            targets = self._deferred.pop(module.__name__, None)
            if targets:
                self._wrap(targets)

    def _wrap(self, targets: list[Target]) -> list[str]:
        skipped = []
        done = {(cls, name) for cls, name, _ in self._installed}
        for target in targets:
            try:
                module = importlib.import_module(target.module)
                cls = getattr(module, target.cls)
            except (ImportError, AttributeError):
                skipped.append(f"{target.module}.{target.cls}")
                continue
            if target.method not in cls.__dict__ or (cls, target.method) in done:
                skipped.append(f"{target.module}.{target.cls}.{target.method}")
                continue
            current = cls.__dict__[target.method]
            original = _insert_beneath(current, target.make_wrapper())
            if original is None:
                original = current
                wrapt.wrap_function_wrapper(cls, target.method, target.make_wrapper())
            self._installed.append((cls, target.method, original))
            done.add((cls, target.method))
        return skipped

    def remove(self) -> None:
        """Restore every wrapped method (also when another library wrapped ours since)."""
        with self._lock:
            self._deferred.clear()
            while self._installed:
                cls, name, original = self._installed.pop()
                with internal_errors(f"unwrapping {cls.__name__}.{name}"):
                    _unwrap(cls, name, original)


def _insert_beneath(current: Any, wrapper: Callable[..., Any]) -> Any:
    """Put ``wrapper`` directly around the plain function under a chain of wrapt wrappers;
    return that function, or ``None`` when ``current`` is not wrapped (wrap it as usual).

    ``_unwrap`` removes it later from wherever it sits, as for a wrapper added on top of ours.
    """
    if not isinstance(current, wrapt.FunctionWrapper):
        return None
    holder = current
    while isinstance(holder.__wrapped__, wrapt.FunctionWrapper):
        holder = holder.__wrapped__
    original = holder.__wrapped__
    try:
        holder.__wrapped__ = wrapt.FunctionWrapper(original, wrapper)
    except (AttributeError, TypeError):
        return None
    return original


def _unwrap(cls: type, name: str, original: Any) -> None:
    current = cls.__dict__.get(name)
    if isinstance(current, wrapt.FunctionWrapper) and current.__wrapped__ is original:
        setattr(cls, name, original)  # we are outermost: plain restore
        return
    # Someone wrapped on top of us: cut our layer out of the chain where it sits.
    outer = current
    while outer is not None and hasattr(outer, "__wrapped__"):
        inner = outer.__wrapped__
        if isinstance(inner, wrapt.FunctionWrapper) and inner.__wrapped__ is original:
            try:
                outer.__wrapped__ = original
            except (AttributeError, TypeError):
                logger.warning("spanrun: could not remove the wrapper of %s.%s", cls, name)
            return
        outer = inner
