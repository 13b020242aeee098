"""``LangChainInstrumentor``: inject one handler into every LangChain callback manager.

Importing this module does not import langchain-core: the patch is applied by a post-import
hook when ``langchain_core.callbacks.base`` is (or already was) imported.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry.trace import TracerProvider

from spanrun.core.internal_errors import report as report_internal_error

if TYPE_CHECKING:
    from types import ModuleType

    from spanrun.instrumentation.langchain._handler import SpanrunCallbackHandler

__all__ = ["LangChainInstrumentor", "instruments"]

logger = logging.getLogger(__name__)

instruments = ("langchain-core >= 0.3",)
_TARGET_MODULE = "langchain_core.callbacks.base"

_lock = threading.Lock()
_hook_registered = False
# The instrumentor whose handler the patched __init__ injects (one at a time, process-wide).
_active: LangChainInstrumentor | None = None


def _inject(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    wrapped(*args, **kwargs)
    owner = _active
    ours = owner._handler if owner is not None else None
    if ours is None:
        return
    try:
        handlers, inheritable = instance.handlers, instance.inheritable_handlers
        if handlers or inheritable:
            # Another tracer's handler that came in by the constructor (OpenInference's
            # wrapper ran inside ours, or a parent manager was copied): ours replaces it.
            _drop_other_tracers(instance)
            # Leave managers alone that already hold a spanrun handler (the user passed one,
            # or the manager was copied from one we set up): one span per run, never two.
            handler_cls = type(ours)
            for handler in handlers:
                if isinstance(handler, handler_cls):
                    return
            for handler in inheritable:
                if isinstance(handler, handler_cls):
                    return
        instance.add_handler(ours, inherit=True)
    except Exception:
        report_internal_error("adding the LangChain handler", logger=logger)


def _refuse_other_tracer(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    # OpenInference's wrapper, when outside ours, adds its tracer after our __init__ wrapper
    # has run: it goes through add_handler, so that is where it is turned away.
    if _active is not None and _active._handler is not None:
        handler = args[0] if args else kwargs.get("handler")
        if _is_other_tracer(handler):
            _say_other_tracer_left_out()
            return None
    return wrapped(*args, **kwargs)


# Recognised by module name: openinference is not a dependency and is never imported here.
_OTHER_TRACER_MODULE = "openinference.instrumentation.langchain"
_said_left_out = False


def _is_other_tracer(handler: object) -> bool:
    """Whether ``handler`` is OpenInference's LangChain tracer (``OpenInferenceTracer``)."""
    return type(handler).__module__.startswith(_OTHER_TRACER_MODULE)


def _drop_other_tracers(manager: Any) -> None:
    for handler in (*manager.handlers, *manager.inheritable_handlers):
        if _is_other_tracer(handler):
            manager.remove_handler(handler)
            _say_other_tracer_left_out()


def _say_other_tracer_left_out() -> None:
    global _said_left_out
    if not _said_left_out:
        _said_left_out = True
        logger.warning(
            "spanrun: OpenInference's LangChain instrumentation is on too; spanrun's handler "
            "records each LangChain step and OpenInference's tracer is left out, so each step "
            "gives one span (autolog(libraries=[]) keeps OpenInference's spans instead)"
        )


def _ours(function: Any, wrapper: Any) -> bool:
    # Other tools (OpenInference, ...) wrap the same methods with wrapt: recognise ours.
    return getattr(function, "_self_wrapper", None) is wrapper


# (method of BaseCallbackManager, our wrapper of it)
_WRAPPERS = (("__init__", _inject), ("add_handler", _refuse_other_tracer))


def _patch(module: ModuleType) -> None:
    manager = module.BaseCallbackManager
    for name, wrapper in _WRAPPERS:
        if not _ours(manager.__dict__.get(name), wrapper):
            wrapt.wrap_function_wrapper(manager, name, wrapper)


def _unpatch() -> None:
    import sys

    module = sys.modules.get(_TARGET_MODULE)
    if module is None:
        return
    manager = module.BaseCallbackManager
    for name, wrapper in _WRAPPERS:
        current = manager.__dict__.get(name)
        # If someone wrapped on top of us we stay in place, inert (no instrumentor active).
        if _ours(current, wrapper):
            setattr(manager, name, current.__wrapped__)


class LangChainInstrumentor:
    """Trace every LangChain run without code changes (langchain-core 0.3 to 1.x).

    ``instrument()`` wraps ``BaseCallbackManager.__init__`` so each callback manager gets one
    inheritable :class:`SpanrunCallbackHandler` (unless it already has one), and ``add_handler``
    so OpenInference's LangChain tracer is kept out (one span per step); it applies when
    langchain-core is imported later too, and calling it again only updates the settings.
    ``uninstrument()`` undoes it, and the handler left in live managers stops starting spans.
    """

    def __init__(self) -> None:
        self._handler: SpanrunCallbackHandler | None = None
        self._options: tuple[TracerProvider | None, bool | None] = (None, None)

    @property
    def is_instrumented(self) -> bool:
        return _active is self

    @property
    def handler(self) -> SpanrunCallbackHandler | None:
        """The injected handler, once langchain-core is imported."""
        return self._handler

    def instrument(
        self,
        tracer_provider: TracerProvider | None = None,
        log_content: bool | None = None,
        **_: Any,  # what opentelemetry-instrument passes (skip_dep_check, ...)
    ) -> None:
        """Start tracing LangChain with these settings; calling again only updates them
        (the patch is applied once, whichever instrumentor calls)."""
        global _active, _hook_registered
        with _lock:
            previous = _active
            if previous is not None and previous._options == (tracer_provider, log_content):
                return
            if previous is not None:
                previous._retire()
            _active = self
            self._options = (tracer_provider, log_content)
            register = not _hook_registered
            _hook_registered = True
        if register:
            # wrapt hooks cannot be removed; _hook checks whether an instrumentor is active.
            # When the module is already imported, the hook runs right away.
            wrapt.register_post_import_hook(self._hook, _TARGET_MODULE)
        else:
            import sys

            module = sys.modules.get(_TARGET_MODULE)
            if module is not None:
                self._hook(module)

    def _retire(self) -> None:
        # Managers created earlier keep this handler: it stops starting spans but still
        # ends the ones it started.
        if self._handler is not None:
            self._handler.enabled = False
        self._handler = None

    @staticmethod
    def _hook(module: ModuleType) -> None:
        try:
            with _lock:
                owner = _active
                if owner is None:
                    return
                if owner._handler is None:
                    from spanrun.instrumentation.langchain._handler import (
                        SpanrunCallbackHandler,
                    )

                    provider, log_content = owner._options
                    owner._handler = SpanrunCallbackHandler(provider, log_content)
                _patch(module)
        except Exception:
            report_internal_error("instrumenting LangChain", logger=logger)

    def uninstrument(self) -> None:
        """Stop tracing LangChain; harmless when not instrumented."""
        global _active
        with _lock:
            if _active is not self:
                return
            _active = None
            _unpatch()
            self._retire()
