"""Keep OpenInference's LangChain tracer out while spanrun's handler is injected.

OpenInference's ``LangChainInstrumentor`` wraps ``BaseCallbackManager.__init__`` as spanrun's
does and adds its ``OpenInferenceTracer`` to every manager: with both, each LangChain step
would give two spans. spanrun's handler stays and theirs is left out (README, "For
OpenTelemetry users", says why). Whichever wrapper is outside:

* theirs inside ours: their tracer is on the manager when our wrapper resumes; it is removed;
* theirs outside ours: it adds its tracer through ``add_handler`` after our wrapper returns;
  ``add_handler`` is wrapped to turn it away, only once their wrapper has been seen (it costs
  every manager a call otherwise).

The tracer is recognised by its module name: openinference is not a dependency and is never
imported here.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import wrapt

__all__ = ["drop", "is_other_tracer", "seen_in_init", "unwatch"]

logger = logging.getLogger(__name__)

_MODULE = "openinference.instrumentation.langchain"
_lock = threading.Lock()
# (the BaseCallbackManager.__init__ last looked at, whether their wrapper is in its chain): the
# chain changes only when someone (un)instruments, so a manager costs one identity check.
_seen: tuple[object, bool] = (None, False)
_said = False


def is_other_tracer(handler: object) -> bool:
    """Whether ``handler`` is OpenInference's LangChain tracer."""
    return type(handler).__module__.startswith(_MODULE)


def _wraps_other_tracer(function: object) -> bool:
    for _ in range(32):  # a chain of wrapt wrappers; bounded in case of a cycle
        wrapper = getattr(function, "_self_wrapper", None)
        if wrapper is None:
            return False
        if is_other_tracer(wrapper):
            return True
        function = getattr(function, "__wrapped__", None)
    return False


def seen_in_init(manager_class: type[Any]) -> bool:
    """Whether OpenInference's wrapper is on ``manager_class.__init__``; the first time it is,
    ``add_handler`` starts turning their tracer away."""
    global _seen
    current = manager_class.__dict__.get("__init__")
    last, found = _seen
    if current is last:
        return found
    found = _wraps_other_tracer(current)
    if found:
        with _lock:
            if getattr(manager_class.__dict__.get("add_handler"), "_self_wrapper", None) is not (
                _refuse
            ):
                wrapt.wrap_function_wrapper(manager_class, "add_handler", _refuse)
    _seen = (current, found)
    return found


def drop(manager: Any) -> None:
    """Remove OpenInference's tracer from ``manager``, if there."""
    for handler in (*manager.handlers, *manager.inheritable_handlers):
        if is_other_tracer(handler):
            manager.remove_handler(handler)
            _say_left_out()


def unwatch(manager_class: type[Any]) -> None:
    """Undo the ``add_handler`` wrapper (left in place, inert, if someone wrapped over it)."""
    global _seen
    _seen = (None, False)
    current: Any = manager_class.__dict__.get("add_handler")
    if getattr(current, "_self_wrapper", None) is _refuse:
        manager_class.add_handler = current.__wrapped__


def _refuse(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    handler = args[0] if args else kwargs.get("handler")
    if _seen[1] and is_other_tracer(handler):
        _say_left_out()
        return None
    return wrapped(*args, **kwargs)


def _say_left_out() -> None:
    global _said
    if not _said:
        _said = True
        logger.warning(
            "spanrun: OpenInference's LangChain instrumentation is on too; spanrun's handler "
            "records each LangChain step and OpenInference's tracer is left out, so each step "
            "gives one span (autolog(libraries=[]) keeps OpenInference's spans instead)"
        )
