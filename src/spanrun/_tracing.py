"""Manual tracing, MLflow-compatible and OTel-native: ``@spanrun.trace``, ``spanrun.start_span``.

The spans are plain OpenTelemetry spans from autolog's TracerProvider (set up on first use
when ``autolog()`` has not been called: the spans go to runs like any other), so they nest with
autologged LLM spans and with the spans of any other instrumentation in one trace. What a span
records, as MLflow does: the function's arguments (``input.value``) and its return value
(``output.value``), as JSON (a single string argument or result as itself, so a traced
function that calls an LLM gives the prediction row its own input), the span type
(``spanrun.span_type``: ``LLM``, ``CHAIN``, ``AGENT``, ``TOOL``, ``RETRIEVER``, ...), and
exceptions (status ERROR, ``error.type``, an exception event), which propagate unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, Status, StatusCode

from spanrun import _autolog
from spanrun.core import internal_errors
from spanrun.core.semconv import ERROR_TYPE, INPUT_VALUE, OUTPUT_VALUE

__all__ = [
    "SPAN_TYPE",
    "LiveSpan",
    "get_current_active_span",
    "get_last_active_trace_id",
    "start_span",
    "trace",
    "update_current_trace",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The span type attribute (MLflow's SpanType values).
SPAN_TYPE = "spanrun.span_type"
#: Prefix of the trace tags set with :func:`update_current_trace` (on the trace's root span).
TRACE_TAG_PREFIX = "spanrun.trace.tag."
_MIME_SUFFIX = ".mime_type"

_last_trace_id: list[int] = []  # of the last root span ended here ([] before any)
_roots: dict[int, Span] = {}  # trace id -> its open root span started here


_cached: list[tuple[Any, otel_trace.Tracer]] = []  # (autolog's provider, its tracer)


def _tracer() -> otel_trace.Tracer:
    """The tracer of autolog's provider; set up on first use. Cached: a manual span must cost
    about what a bare OTel span does, and the SDK makes a new Tracer per ``get_tracer``."""
    state = _autolog._state
    if _cached and _cached[0][0] is state.provider and state.processor.parts:
        return _cached[0][1]
    provider = _autolog.tracer_provider()
    tracer = provider.get_tracer("spanrun.tracing")
    _cached[:] = [(provider, tracer)]
    return tracer


# One encoder for every call: ``json.dumps(value, default=repr, ensure_ascii=False)`` builds a
# new JSONEncoder each time, which is most of what serialising a small value costs.
_ENCODER = json.JSONEncoder(default=repr, ensure_ascii=False)
_JSON_MIME = "application/json"


def _json(value: Any) -> str:
    """``value`` as JSON, as ``json.dumps(value, default=repr, ensure_ascii=False)`` gives it (a
    string as itself; ``repr`` where JSON fails, e.g. circular structures)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return int.__repr__(value)  # what JSON writes for an int, without the encoder's setup
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError):  # circular structures, keys JSON cannot take
        return repr(value)


class LiveSpan:
    """A span being recorded (what :func:`start_span` yields): MLflow's ``LiveSpan`` methods over
    an OpenTelemetry span (``.otel_span``)."""

    def __init__(self, span: Span) -> None:
        self.otel_span = span

    @property
    def trace_id(self) -> str:
        return format(self.otel_span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        return format(self.otel_span.get_span_context().span_id, "016x")

    def set_inputs(self, inputs: Any) -> None:
        _set_value(self.otel_span, INPUT_VALUE, _INPUT_MIME, inputs)

    def set_outputs(self, outputs: Any) -> None:
        _set_value(self.otel_span, OUTPUT_VALUE, _OUTPUT_MIME, outputs)

    def set_attribute(self, key: str, value: Any) -> None:
        self.otel_span.set_attribute(key, _otel_value(value))

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_status(self, status: str, description: str | None = None) -> None:
        """``"OK"``, ``"ERROR"`` or ``"UNSET"``."""
        self.otel_span.set_status(Status(StatusCode[status.upper()], description))

    def record_exception(self, exc: BaseException) -> None:
        _fail(self.otel_span, exc)


_INPUT_MIME = INPUT_VALUE.replace(".value", _MIME_SUFFIX)
_OUTPUT_MIME = OUTPUT_VALUE.replace(".value", _MIME_SUFFIX)


def _set_value(span: Span, key: str, mime_key: str, value: Any) -> None:
    if isinstance(value, str):
        span.set_attribute(key, value)  # one attribute: no mapping to build and walk
    else:
        span.set_attributes({key: _json(value), mime_key: _JSON_MIME})


def _set_output(span: Span, value: Any) -> None:
    try:
        if isinstance(value, str):  # _set_value inlined: this is on every traced call
            span.set_attribute(OUTPUT_VALUE, value)
        else:
            span.set_attributes({OUTPUT_VALUE: _json(value), _OUTPUT_MIME: _JSON_MIME})
    except Exception:
        internal_errors.report("recording a manual span")


def _otel_value(value: Any) -> Any:
    """An attribute value OpenTelemetry takes: scalars and lists of one scalar type as they
    are, everything else as JSON."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return _json(value)


def _fail(span: Span, exc: BaseException) -> None:
    span.set_attribute(ERROR_TYPE, type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__qualname__))
    span.record_exception(exc)


def _record_failure(span: Span, exc: BaseException) -> None:
    """Record the exception leaving a span's block (not a generator closed early)."""
    if not isinstance(exc, GeneratorExit):
        try:
            _fail(span, exc)
        except Exception:
            internal_errors.report("recording a manual span")


class _InSpan:
    """Makes a span current for a block, records the block's exception (re-raised unchanged)
    and ends the span. A class, not a generator context manager: it is the whole cost of a
    manual span above the SDK's."""

    __slots__ = ("live", "root", "token")

    def __init__(self, span: Span, root: int) -> None:
        self.live = LiveSpan(span)
        self.root = root
        self.token: object = None

    def __enter__(self) -> LiveSpan:
        self.token = otel_context.attach(otel_trace.set_span_in_context(self.live.otel_span))
        return self.live

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        span = self.live.otel_span
        if exc is not None:
            _record_failure(span, exc)
        otel_context.detach(self.token)  # type: ignore[arg-type]
        _close(span, self.root)


def start_span(
    name: str = "span", span_type: str = "UNKNOWN", attributes: Mapping[str, Any] | None = None
) -> contextlib.AbstractContextManager[LiveSpan]:
    """A span around a block, child of the current span (MLflow's ``mlflow.start_span``):
    ``with spanrun.start_span("retrieve", span_type="RETRIEVER") as span: ...``.

    The block's exception is recorded on the span and propagates unchanged.
    """
    return _InSpan(*_open(str(name), _given_attributes(span_type, attributes)))


def _given_attributes(span_type: str, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A new span's attributes: its type and the caller's, as OpenTelemetry takes them."""
    given: dict[str, Any] = {SPAN_TYPE: str(span_type)}
    if attributes:
        try:
            given.update({str(k): _otel_value(v) for k, v in attributes.items()})
        except Exception:
            internal_errors.report("reading a manual span's attributes")
    return given


def _open(name: str, attributes: Mapping[str, Any]) -> tuple[Span, int]:
    """Start a span, child of the current one; also its trace id when it is a root span of this
    process (when it ends, its trace is the last active one), else 0."""
    span = _tracer().start_span(name, attributes=attributes)
    parent: Any = getattr(span, "parent", _NOT_SDK)
    if parent is None or (parent is not _NOT_SDK and parent.is_remote):
        root: int = span.get_span_context().trace_id
        _roots[root] = span
        return span, root
    return span, 0


_NOT_SDK = object()  # what a span without the SDK's ``parent`` has there


def _close(span: Span, root: int) -> None:
    """End a span; ``root``: its trace id if it is a root span of this process, else 0."""
    span.end()
    if root and _roots.get(root) is span:  # dict reads and writes are atomic: no lock needed
        _roots.pop(root, None)
        _last_trace_id[:] = [root]  # formatted when asked for, not per span


_BY_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class _Arguments:
    """A call's arguments as the span's input, as MLflow records them: ``{name: value}`` for the
    arguments passed (in the signature's order, defaults left out, ``self``/``cls`` dropped),
    ``{"args": [...], **kwargs}`` when they do not bind; a lone string argument as itself (a
    question, a prompt: the prediction row's input as it is).

    The signature is read once, at decoration. A call whose arguments go to named parameters
    (the usual case) is read without ``Signature.bind_partial``, which costs a traced call
    several microseconds; anything else (``*args``, ``**kwargs``, errors) goes through it.
    """

    __slots__ = ("by_keyword", "dropped", "lone", "positional", "signature", "skip")

    def __init__(self, fn: Callable[..., Any]) -> None:
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None
        params = list(self.signature.parameters.values()) if self.signature else []
        positional: list[str] = []
        for param in params:
            if param.kind not in _BY_POSITION:
                break
            positional.append(param.name)
        #: the leading parameters an argument can fill by position, in order
        self.positional = tuple(positional)
        #: the parameters an argument can fill by keyword, in the signature's order
        self.by_keyword = tuple(p.name for p in params if p.kind in _BY_KEYWORD)
        self.dropped = tuple(p.name for p in params if p.name in ("self", "cls"))
        # The commonest call, one argument (after ``self``/``cls``) given by position: the
        # parameter it fills, when there is one and it is recorded.
        self.skip = 1 if positional and positional[0] in self.dropped else 0
        lone = positional[self.skip] if len(positional) > self.skip else None
        self.lone = lone if lone not in self.dropped else None

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.lone is not None and not kwargs and len(args) == self.skip + 1:
            only = args[self.skip]
            return only if isinstance(only, str) else {self.lone: only}
        if self.signature is None:
            return {"args": list(args), **kwargs}
        positional = self.positional
        if len(args) <= len(positional) and (not kwargs or self._named(len(args), kwargs)):
            values = dict(zip(positional, args, strict=False))  # args fill a prefix
            if kwargs:
                for name in self.by_keyword:  # the signature's order, as bind_partial's
                    if name in kwargs:
                        values[name] = kwargs[name]
        else:
            try:
                bound = self.signature.bind_partial(*args, **kwargs)
            except TypeError:
                return {"args": list(args), **kwargs}
            values = dict(bound.arguments)
        for name in self.dropped:
            values.pop(name, None)
        if len(values) == 1:
            (only,) = values.values()
            if isinstance(only, str):
                return only
        return values

    def _named(self, n_args: int, kwargs: dict[str, Any]) -> bool:
        """Every keyword argument names a parameter that no positional argument filled."""
        by_keyword, filled = self.by_keyword, self.positional[:n_args]
        return all(k in by_keyword and k not in filled for k in kwargs)


@overload
def trace(func: F) -> F: ...
@overload
def trace(
    func: None = None,
    *,
    name: str | None = None,
    span_type: str = "UNKNOWN",
    attributes: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...
def trace(
    func: F | None = None,
    *,
    name: str | None = None,
    span_type: str = "UNKNOWN",
    attributes: Mapping[str, Any] | None = None,
) -> F | Callable[[F], F]:
    """Trace a function (sync, async, generator or async generator) as a span: its arguments,
    its result (for generators, the list of items yielded) and its exception (re-raised
    unchanged). ``@spanrun.trace`` or ``@spanrun.trace(name=..., span_type=...,
    attributes=...)``, as MLflow's ``@mlflow.trace``; ``attributes`` are read once, here."""

    def decorate(fn: F) -> F:
        span_name = str(name or getattr(fn, "__qualname__", None) or "span")
        # Everything that does not depend on the call is worked out once, here.
        given = _given_attributes(span_type, attributes)
        arguments = _Arguments(fn)

        def opened(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Span, int]:
            # The input goes in with the span's start attributes: one attribute mapping, no
            # set_attributes call (and its lock) per span.
            start = given.copy()
            try:
                inputs = arguments(args, kwargs)
                if isinstance(inputs, str):
                    start[INPUT_VALUE] = inputs
                else:
                    start[INPUT_VALUE] = _json(inputs)
                    start[_INPUT_MIME] = _JSON_MIME
            except Exception:
                internal_errors.report("recording a manual span")
            return _open(span_name, start)

        # Generators: the span is current only while the generator's own code runs, never
        # while the consumer holds an item (their context is not ours to change).
        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def traced_agen(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                span, root = opened(args, kwargs)
                items = []
                inner: Any = None
                try:
                    with _current(span):
                        inner = fn(*args, **kwargs)
                    while True:
                        with _current(span):
                            try:
                                item = await inner.__anext__()
                            except StopAsyncIteration:
                                break
                        items.append(item)
                        yield item
                    _set_output(span, items)
                except BaseException as exc:
                    _record_failure(span, exc)
                    raise
                finally:
                    if inner is not None:
                        await inner.aclose()
                    _close(span, root)

            return traced_agen  # type: ignore[return-value]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def traced_gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
                span, root = opened(args, kwargs)
                items = []
                inner: Any = None
                try:
                    with _current(span):
                        inner = fn(*args, **kwargs)
                    while True:
                        with _current(span):
                            try:
                                item = next(inner)
                            except StopIteration:
                                break
                        items.append(item)
                        yield item
                    _set_output(span, items)
                except BaseException as exc:
                    _record_failure(span, exc)  # not when the consumer stopped early
                    raise
                finally:
                    if inner is not None:
                        inner.close()
                    _close(span, root)

            return traced_gen  # type: ignore[return-value]

        # Plain functions and coroutines: the span is current for the whole call. Inlined rather
        # than `with _InSpan(...)`: no context-manager object per call.
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def traced_async(*args: Any, **kwargs: Any) -> Any:
                span, root = opened(args, kwargs)
                token = otel_context.attach(otel_trace.set_span_in_context(span))
                try:
                    result = await fn(*args, **kwargs)
                    _set_output(span, result)
                    return result
                except BaseException as exc:
                    _record_failure(span, exc)
                    raise
                finally:
                    otel_context.detach(token)
                    _close(span, root)

            return traced_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def traced(*args: Any, **kwargs: Any) -> Any:
            span, root = opened(args, kwargs)
            token = otel_context.attach(otel_trace.set_span_in_context(span))
            try:
                result = fn(*args, **kwargs)
                _set_output(span, result)
                return result
            except BaseException as exc:
                _record_failure(span, exc)
                raise
            finally:
                otel_context.detach(token)
                _close(span, root)

        return traced  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def _current(span: Span) -> contextlib.AbstractContextManager[Span]:
    return otel_trace.use_span(span, end_on_exit=False, record_exception=False)


def get_last_active_trace_id() -> str | None:
    """The id (32 hex digits) of the last trace whose root span, started with
    :func:`trace` or :func:`start_span` in this process, has ended; None before any."""
    return format(_last_trace_id[0], "032x") if _last_trace_id else None


def get_current_active_span() -> LiveSpan | None:
    """The current span (of any instrumentation) while one is recording, else None."""
    span = otel_trace.get_current_span()
    return LiveSpan(span) if span.is_recording() else None


def update_current_trace(tags: Mapping[str, Any] | None = None) -> None:
    """Tag the current trace: the tags go on its root span (``spanrun.trace.tag.<key>``) when
    it was started here with :func:`trace` / :func:`start_span`, else on the current span."""
    current = otel_trace.get_current_span()
    if not current.is_recording() or not tags:
        return
    target = _roots.get(current.get_span_context().trace_id, current)
    for key, value in tags.items():
        target.set_attribute(TRACE_TAG_PREFIX + str(key), str(value))
