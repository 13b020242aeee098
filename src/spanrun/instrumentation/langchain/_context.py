"""Making a LangChain run's span the current OTel span, safely.

LangChain reports a run through callbacks, not a ``with`` block, so the span is attached in the
start callback and detached in the end callback. In async code the end callbacks run in a
*copy* of the caller's context (langchain-core shields them in a new task), where the token
cannot be detached, so the caller's context would keep pointing at a finished span.

To make that harmless the context holds a :class:`ScopedSpan` rather than the span itself: while
the run is open it stands for the run's span; once released it stands for the span that was
current before, which is exactly what a successful detach would have restored. New spans
therefore get the right parent whether or not the detach could happen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import Token
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext, Status, StatusCode
from opentelemetry.util.types import Attributes, AttributeValue

from spanrun.core.internal_errors import report as report_internal_error

try:  # The public detach() logs every failure with a traceback; failures are expected here.
    from opentelemetry.context import _RUNTIME_CONTEXT as _RUNTIME

    def _raw_detach(token: Token[Any]) -> None:
        _RUNTIME.detach(token)

except ImportError:  # pragma: no cover - older or future API layouts
    _raw_detach = context_api.detach

__all__ = ["ScopedSpan", "attach_span", "detach_span", "outside_langchain"]

logger = logging.getLogger(__name__)


class ScopedSpan(Span):
    """Stands for ``span`` while open, for the previously current span once released."""

    __slots__ = ("_context", "_previous", "_span", "_token")

    def __init__(self, span: Span, previous: Span) -> None:
        self._span: Span | None = span
        self._previous = previous
        self._token: Token[Any] | None = None
        self._context: context_api.Context | None = None

    def release(self) -> None:
        self._span = None

    def _target(self) -> Span:
        span = self._span
        return span if span is not None else _resolve(self._previous)

    def get_span_context(self) -> SpanContext:
        return self._target().get_span_context()

    def is_recording(self) -> bool:
        return self._target().is_recording()

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self._target().set_attributes(attributes)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._target().set_attribute(key, value)

    def add_event(
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> None:
        self._target().add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        self._target().add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self._target().update_name(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self._target().set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self._target().record_exception(exception, attributes, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        # The run's lifetime belongs to LangChain's callbacks, not to whoever found us current.
        return None


def _resolve(span: Span) -> Span:
    # Skip released placeholders so chains of them never grow (a long-lived task may leak one
    # per run when its end callbacks ran elsewhere).
    while isinstance(span, ScopedSpan) and span._span is None:
        span = span._previous
    return span


def outside_langchain(span: Span) -> Span:
    """The nearest span around ``span`` that is not a LangChain run's placeholder."""
    while isinstance(span, ScopedSpan):
        span = span._previous
    return span


def attach_span(span: Span) -> ScopedSpan:
    """Make ``span`` current in this context; pass the result to :func:`detach_span`."""
    # Pop placeholders of runs that ended elsewhere first, so a long-lived task that starts
    # runs whose ends happen in copied contexts does not pile them up.
    _unwind()
    current = context_api.get_current()
    scoped = ScopedSpan(span, _resolve(trace.get_current_span(current)))
    attached = trace.set_span_in_context(scoped, current)
    try:
        scoped._token = context_api.attach(attached)
        scoped._context = attached
    except Exception:  # pragma: no cover - attach only fails on a broken runtime context
        report_internal_error("making a LangChain span current", logger=logger)
    return scoped


def detach_span(scoped: ScopedSpan) -> None:
    """Release ``scoped`` and pop the released placeholders on top of this context.

    A placeholder is popped only when the current context is exactly the one it attached, so
    nothing attached by others is ever popped; when the run ended in a copied context (async
    end callbacks) or out of order (batches), the released placeholder stays and resolves to
    the right parent until its own context unwinds.
    """
    scoped.release()
    _unwind()


def _unwind() -> None:
    while True:
        current = context_api.get_current()
        top = trace.get_current_span(current)
        if not isinstance(top, ScopedSpan) or top._span is not None or top._token is None:
            return
        if top._context is not current:
            return
        token, top._token, top._context = top._token, None, None
        try:
            _raw_detach(token)
        except Exception:  # ValueError: the token was made in another Context
            return
