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
from spanrun.instrumentation.langchain import _other_tracers as other_tracers

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
# langchain-core's BaseCallbackManager, once patched.
_manager_class: type[Any] | None = None


def _inject(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    wrapped(*args, **kwargs)
    owner = _active
    ours = owner._handler if owner is not None else None
    if ours is None or _manager_class is None:
        return
    try:
        # OpenInference's LangChain instrumentor is on too: its tracer is left out.
        if other_tracers.seen_in_init(_manager_class):
            other_tracers.drop(instance)
        # Leave managers alone that already hold a spanrun handler (the user passed one, or
        # the manager was copied from one we set up): one span per run, never two.
        handlers, inheritable = instance.handlers, instance.inheritable_handlers
        if handlers or inheritable:
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


def _ours(function: Any) -> bool:
    # Other tools (OpenInference, ...) wrap the same method with wrapt: recognise our wrapper.
    return getattr(function, "_self_wrapper", None) is _inject


def _patch(module: ModuleType) -> None:
    global _manager_class
    manager = module.BaseCallbackManager
    _manager_class = manager
    if not _ours(manager.__dict__.get("__init__")):
        wrapt.wrap_function_wrapper(manager, "__init__", _inject)


def _unpatch() -> None:
    import sys

    module = sys.modules.get(_TARGET_MODULE)
    if module is None:
        return
    manager = module.BaseCallbackManager
    other_tracers.unwatch(manager)
    current = manager.__dict__.get("__init__")
    # If someone wrapped on top of us we stay in place, inert (_inject sees no instrumentor).
    if _ours(current):
        manager.__init__ = current.__wrapped__


class LangChainInstrumentor:
    """Trace every LangChain run without code changes (langchain-core 0.3 to 1.x).

    ``instrument()`` wraps ``BaseCallbackManager.__init__`` so each callback manager gets one
    inheritable :class:`SpanrunCallbackHandler` (unless it already has one; OpenInference's
    LangChain tracer is kept out, see ``_other_tracers``); it applies when
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
