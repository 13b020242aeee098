"""The life of one GenAI span, shared by the OpenAI and LangChain instrumentors.

As OTel util-genai's ``TelemetryHandler`` is for the contrib instrumentors: each instrumentor
only translates its library's calls (request kwargs, callbacks, results, stream chunks) into
attributes; this module owns what they have in common:

- :class:`Telemetry`: the tracer and the content-capture setting, decided once when an
  instrumentor is configured (``log_content``, else
  ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``); translators read ``capture``;
- :func:`is_suppressed`: OTel's suppress-instrumentation key, checked by the instrumentor
  before any work (a suppressed call gets no span);
- :func:`open_genai_span` and :meth:`Telemetry.adopt`: when another instrumentation of the same
  library (OTel's openai-v2, ...) already started the call's GenAI span, the instrumentor
  records into that span instead of starting a second one (one span, one counted call);
- :func:`llm_attributes` and :func:`llm_span_name`: the GenAI request attributes every LLM
  span starts with and its name, ``{gen_ai.operation.name} {model}``; LLM spans are CLIENT;
- :meth:`Telemetry.start` and :class:`Invocation`: record response, usage and content
  (``error.type`` among them sets status ERROR), fail (``error.type``, status ERROR, an
  exception event), end exactly once whatever path gets there.

Every step follows spanrun's internal-error policy (:mod:`spanrun.core.internal_errors`): our
failures are reported, never raised into the user's call, and a span that was started is
always ended.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from spanrun.core import internal_errors as _policy
from spanrun.core import semconv as sc
from spanrun.core.current import lookups

__all__ = [
    "LLM_SPAN_KIND",
    "Invocation",
    "Telemetry",
    "is_suppressed",
    "llm_attributes",
    "llm_span_name",
    "open_genai_span",
]

logger = logging.getLogger("spanrun.instrumentation")

LLM_SPAN_KIND = SpanKind.CLIENT

_SUPPRESS_KEY = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation")
_get_value = otel_context.get_value
_perf = time.perf_counter
_set_span_in_context = trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach
_ERROR = StatusCode.ERROR
_get_current_span = trace.get_current_span
_OUR_SCOPE = "spanrun."


def _report(what: str) -> None:
    _policy.report(what, logger=logger)


def is_suppressed() -> bool:
    """True when OTel's suppress-instrumentation key is set in the current context."""
    return bool(_get_value(_SUPPRESS_KEY))


def open_genai_span(operation: str, providers: frozenset[str], name: str) -> Span | None:
    """The current span when it is another instrumentation's still-open GenAI span of this
    call: the call's span already, to record into (:meth:`Telemetry.adopt`).

    That is a span of the same ``operation`` whose provider (``gen_ai.provider.name``, else
    ``gen_ai.system``) is one of ``providers`` or unset; or, as OTel util-genai starts its spans
    bare (attributes come at the end), a CLIENT span without an operation named ``name``, the
    name the conventions give this call. Cheap on the usual path (no current span, or a span of
    another kind): one context lookup and one or two attribute reads.
    """
    span = _get_current_span()
    if not span.is_recording():  # none (the usual case; cheaper than a missing attribute), or
        return None  # ended: its owner is done with it
    attrs = getattr(span, "attributes", None)  # an SDK span's
    if attrs is None:
        return None
    found = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if found is not None:
        if found != operation:
            return None
        provider = attrs.get(sc.GEN_AI_PROVIDER_NAME) or attrs.get(sc.GEN_AI_SYSTEM)
        if provider is not None and provider not in providers:
            return None
    elif getattr(span, "name", None) != name or getattr(span, "kind", None) is not LLM_SPAN_KIND:
        return None
    scope = getattr(span, "instrumentation_scope", None)
    if scope is not None and scope.name.startswith(_OUR_SCOPE):
        return None  # ours (LangChain's model span around an OpenAI call): a real child
    return span


def llm_attributes(operation: str, provider: str | None, model: str | None) -> dict[str, Any]:
    """The attributes an LLM span starts with (the instrumentor adds its request details):
    ``gen_ai.operation.name``, then ``gen_ai.provider.name`` and ``gen_ai.request.model``
    when known."""
    attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation}
    if provider is not None:
        attrs[sc.GEN_AI_PROVIDER_NAME] = provider
    if model is not None:
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
    return attrs


def llm_span_name(operation: str, label: str | None) -> str:
    """``{operation} {label}`` (the label is the requested model, or what stands in for it)."""
    return operation if label is None else f"{operation} {label}"


def _version() -> str:
    try:
        return importlib.metadata.version("spanrun")
    except importlib.metadata.PackageNotFoundError:
        return "0"


class Telemetry:
    """What an instrumentor was configured with: its tracer and whether content is captured."""

    __slots__ = ("capture", "tracer")

    def __init__(self, tracer: trace.Tracer, capture: bool) -> None:
        self.tracer = tracer
        self.capture = capture

    @classmethod
    def create(
        cls,
        tracer_name: str,
        tracer_provider: trace.TracerProvider | None = None,
        log_content: bool | None = None,
    ) -> Telemetry:
        """A tracer named ``tracer_name`` (the global provider unless one is given); content
        capture from ``log_content``, else the OTel variable (read once, here)."""
        tracer = trace.get_tracer(tracer_name, _version(), tracer_provider=tracer_provider)
        return cls(tracer, sc.content_capture_enabled(log_content))

    def start(
        self,
        name: str,
        kind: SpanKind,
        attributes: dict[str, Any],
        context: otel_context.Context | None = None,
        invocation: type[Invocation] | None = None,
    ) -> Invocation | None:
        """Start a span (not made current); ``None`` when that failed (reported).

        ``invocation`` is the :class:`Invocation` subclass to make, for instrumentors that add
        their own translation methods to it.
        """
        try:
            started = _perf()
            run = _run_stamp(context)
            if run is not None:
                attributes = {**attributes, **run}
            span = self.tracer.start_span(name, context=context, kind=kind, attributes=attributes)
        except Exception:
            _report("starting a span")
            return None
        return (invocation or Invocation)(span, self.capture, started)

    def adopt(
        self,
        span: Span,
        attributes: dict[str, Any],
        invocation: type[Invocation] | None = None,
    ) -> Invocation | None:
        """Record into ``span``, another instrumentation's open span of this same call (see
        :func:`open_genai_span`), instead of starting one: ``attributes`` and the run stamp
        are set on it now, results later; its owner ends it. ``None`` when that failed."""
        try:
            started = _perf()
            run = _run_stamp(None)  # the span is current: its own stamp, else the active run
            if run is not None:
                attributes = {**attributes, **run}
            span.set_attributes(attributes)
        except Exception:
            _report("recording into another instrumentation's span")
            return None
        inv = (invocation or Invocation)(span, self.capture, started)
        inv.adopted = True
        return inv


def _run_stamp(context: otel_context.Context | None) -> dict[str, Any] | None:
    """The run a new span belongs to, as ``RunStampingProcessor`` decides it (the parent's
    stamp, else the active run): stamped here too, so that an LLM call made inside
    ``start_run`` goes to that run on any span processor (a plain ``BatchSpanProcessor`` with
    ``RunExporter``, ``OTEL_TRACES_EXPORTER=spanrun``), not only on autolog's."""
    parent = trace.get_current_span(context)
    parent_attributes = getattr(parent, "attributes", None)  # an SDK span's, read-only
    if parent_attributes:
        run_id = parent_attributes.get(sc.SPANRUN_RUN_ID)
        if run_id is not None:
            stamp = {sc.SPANRUN_RUN_ID: run_id}
            experiment_id = parent_attributes.get(sc.SPANRUN_EXPERIMENT_ID)
            if experiment_id is not None:
                stamp[sc.SPANRUN_EXPERIMENT_ID] = experiment_id
            return stamp
    ids = lookups.active_run_ids()
    if ids is None:
        return None
    return {sc.SPANRUN_RUN_ID: ids[0], sc.SPANRUN_EXPERIMENT_ID: ids[1]}


class Invocation:
    """One started span; ``end`` happens at most once whatever path gets there.

    ``capture`` is the content setting the span started with; ``started`` and
    ``first_chunk`` are ``time.perf_counter()`` readings.
    """

    __slots__ = ("adopted", "capture", "ended", "first_chunk", "span", "started", "token")

    def __init__(self, span: Span, capture: bool, started: float) -> None:
        self.span = span
        self.capture = capture
        self.started = started
        self.first_chunk: float | None = None
        self.ended = False
        self.token: Any = None
        # Another instrumentation's span (Telemetry.adopt): we record into it while it is
        # open and never end it.
        self.adopted = False

    # ------------------------------------------------------------------ context

    def make_current(self) -> bool:
        """Attach the span to the current context (undo with :meth:`detach`); False if that
        failed (reported)."""
        try:
            self.token = _attach(_set_span_in_context(self.span))
        except Exception:
            _report("making a span current")
            return False
        return True

    def detach(self) -> None:
        token, self.token = self.token, None
        if token is not None:
            try:
                _detach(token)
            except Exception:
                _report("detaching the span context")

    # ------------------------------------------------------------------ streams

    def chunk_seen(self) -> bool:
        """Note a streamed chunk; True for the first one."""
        if self.first_chunk is None:
            self.first_chunk = _perf()
            return True
        return False

    def time_to_first_chunk(self) -> float | None:
        """Seconds from the start to the first chunk, if one came."""
        first = self.first_chunk
        return None if first is None else first - self.started

    # ------------------------------------------------------------------ recording and ending

    def record(self, attributes: Mapping[str, Any]) -> None:
        """Set response attributes (usage, content, ...); ``error.type`` among them marks the
        span as failed (status ERROR)."""
        try:
            span = self.span
            if self.adopted and not span.is_recording():
                return  # its owner ended it first (closed their stream wrapper)
            if sc.ERROR_TYPE in attributes:
                span.set_status(Status(_ERROR))
            span.set_attributes(attributes)
        except Exception:
            _report("recording span attributes")

    def finish(self, attributes: Mapping[str, Any] | None = None) -> None:
        """The call succeeded: record ``attributes`` and end."""
        if self.ended:
            return
        if attributes:
            self.record(attributes)
        self.end()

    def fail(
        self,
        exc: BaseException,
        attributes: Mapping[str, Any] | None = None,
        *,
        description: str | None = None,
        escaped: bool = False,
    ) -> None:
        """The call raised ``exc``: record ``attributes`` (what was seen), ``error.type`` (the
        exception's qualified name), status ERROR with ``description`` (default: the message,
        else the type) and an exception event, then end."""
        if self.ended:
            return
        try:
            span = self.span
            if span.is_recording():
                if attributes:
                    span.set_attributes(attributes)
                kind = type(exc).__qualname__
                span.set_attribute(sc.ERROR_TYPE, kind)
                if description is None:
                    description = str(exc) or kind
                span.set_status(Status(_ERROR, description))
                span.record_exception(exc, escaped=escaped)  # openai-v2 records none
        except Exception:
            _report("recording an error on a span")
        self.end()

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        if self.adopted:
            return
        try:
            self.span.end()
        except Exception:
            _report("ending a span")
