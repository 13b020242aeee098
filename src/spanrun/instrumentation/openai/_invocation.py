"""The life of one instrumented OpenAI call: start the span, finish or fail it exactly once.

Nothing here raises into the user's program: every step runs under ``internal_errors``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from spanrun.core import semconv as sc
from spanrun.instrumentation._wrapping import report_internal_error
from spanrun.instrumentation.openai._operations import Operation

__all__ = ["Invocation", "Settings", "start"]

_CLIENT = SpanKind.CLIENT
_perf = time.perf_counter
_set_span_in_context = trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach

_AZURE_CLIENTS = frozenset({"AzureOpenAI", "AsyncAzureOpenAI"})
_provider_cache: dict[type, str] = {}


@dataclass
class Settings:
    """What the instrumentor was configured with (shared by all wrappers)."""

    tracer: trace.Tracer
    capture: bool


def _provider(client: Any) -> str:
    cls = type(client)
    name = _provider_cache.get(cls)
    if name is None:
        azure = any(base.__name__ in _AZURE_CLIENTS for base in cls.__mro__)
        name = _provider_cache[cls] = "azure.ai.openai" if azure else "openai"
    return name


_server_cache: dict[int, tuple[Any, dict[str, Any]]] = {}


def _server(client: Any, attrs: dict[str, Any]) -> None:
    url = getattr(client, "_base_url", None)  # what the public property returns, sans call
    if url is None:
        url = getattr(client, "base_url", None)
        if url is None:
            return
    # Keyed by the URL object (a new one when the user changes base_url), bounded.
    cached = _server_cache.get(id(url))
    if cached is None or cached[0] is not url:
        found: dict[str, Any] = {}
        host = url.host
        if host:
            found[sc.SERVER_ADDRESS] = host
            port = url.port
            found[sc.SERVER_PORT] = (
                port if port is not None else (443 if url.scheme == "https" else 80)
            )
        if len(_server_cache) > 256:
            _server_cache.clear()
        cached = _server_cache[id(url)] = (url, found)
    attrs.update(cached[1])


class Invocation:
    """One span for one API call; ``end`` happens at most once whatever path gets there."""

    __slots__ = ("capture", "ended", "first_chunk", "op", "span", "started", "token")

    def __init__(self, op: Operation, span: Any, capture: bool, started: float) -> None:
        self.op = op
        self.span = span
        self.capture = capture
        self.started = started
        self.first_chunk: float | None = None
        self.ended = False
        self.token: Any = None

    # ------------------------------------------------------------------ context

    def detach(self) -> None:
        token, self.token = self.token, None
        if token is not None:
            try:
                _detach(token)
            except Exception:
                report_internal_error("detaching the span context")

    # ------------------------------------------------------------------ endings

    def succeed(self, result: Any) -> None:
        """A complete (non-stream) result: record the response and end."""
        if self.ended:
            return
        try:
            if self.span.is_recording():
                attrs = self.op.response_attributes(result, self.capture)
                if sc.ERROR_TYPE in attrs:
                    self.span.set_status(Status(StatusCode.ERROR))
                self.span.set_attributes(attrs)
        except Exception:
            report_internal_error("recording an OpenAI response")
        self.end()

    def chunk_seen(self) -> None:
        if self.first_chunk is None:
            self.first_chunk = _perf()

    def finish_stream(self, state: Any) -> None:
        """The stream ended (exhausted, closed or abandoned): record what was seen and end."""
        if self.ended:
            return
        try:
            if self.span.is_recording():
                attrs = state.attributes() if state is not None else {}
                if self.first_chunk is not None:
                    attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self.first_chunk - self.started
                if sc.ERROR_TYPE in attrs:
                    self.span.set_status(Status(StatusCode.ERROR))
                self.span.set_attributes(attrs)
        except Exception:
            report_internal_error("recording an OpenAI stream")
        self.end()

    def fail(self, exc: BaseException, state: Any = None) -> None:
        """The call (or its stream) raised ``exc``: record it as the span's error and end."""
        if self.ended:
            return
        try:
            span = self.span
            if span.is_recording():
                if state is not None:
                    attrs = state.attributes()
                    if self.first_chunk is not None:
                        first = self.first_chunk - self.started
                        attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = first
                    span.set_attributes(attrs)
                span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__qualname__))
                span.record_exception(exc)
        except Exception:
            report_internal_error("recording an OpenAI error")
        self.end()

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self.span.end()
        except Exception:
            report_internal_error("ending an OpenAI span")


def start(
    settings: Settings, op: Operation, instance: Any, kwargs: dict[str, Any]
) -> Invocation | None:
    """Start the span of a call and make it current; ``None`` when anything goes wrong."""
    span = None
    try:
        client = getattr(instance, "_client", None)
        model = kwargs.get("model")
        capture = settings.capture
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: op.name,
            sc.GEN_AI_PROVIDER_NAME: _provider(client),
        }
        if isinstance(model, str):
            attrs[sc.GEN_AI_REQUEST_MODEL] = model
            name = f"{op.name} {model}"
        else:
            name = op.name
        if op.stream_state is not None:
            attrs[sc.GEN_AI_REQUEST_STREAM] = kwargs.get("stream") is True
        if client is not None:
            _server(client, attrs)
        try:
            op.request_attributes(kwargs, attrs, capture)
        except Exception:  # a span without request details beats no span
            report_internal_error("reading an OpenAI request")
        started = _perf()
        span = settings.tracer.start_span(name, kind=_CLIENT, attributes=attrs)
        inv = Invocation(op, span, capture, started)
        inv.token = _attach(_set_span_in_context(span))
        return inv
    except Exception:
        report_internal_error("starting an OpenAI span")
        if span is not None:
            try:
                span.end()
            except Exception:
                report_internal_error("ending an OpenAI span")
        return None
