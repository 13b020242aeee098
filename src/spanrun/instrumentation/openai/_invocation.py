"""The life of one instrumented OpenAI call, on the shared lifecycle (``_lifecycle``).

This module only translates: the request into the span's attributes, the SDK's result, stream
state or error into what :class:`~spanrun.instrumentation._lifecycle.Invocation` records.
Nothing here raises into the user's program: every step follows the internal-error policy.
"""

from __future__ import annotations

from typing import Any

from spanrun.core import semconv as sc
from spanrun.instrumentation._lifecycle import (
    LLM_SPAN_KIND,
    Invocation,
    Telemetry,
    llm_attributes,
    llm_span_name,
    open_genai_span,
)
from spanrun.instrumentation._wrapping import report_internal_error
from spanrun.instrumentation.openai._operations import Operation

__all__ = ["OpenAIInvocation", "start"]

_AZURE_CLIENTS = frozenset({"AzureOpenAI", "AsyncAzureOpenAI"})
# Provider names other OpenAI instrumentations give their spans (semconv, older semconv).
_OPENAI_PROVIDERS = frozenset({"openai", "azure.ai.openai", "az.ai.openai"})
_provider_cache: dict[type, str] = {}


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


class OpenAIInvocation(Invocation):
    """An :class:`Invocation` that knows its OpenAI operation, to translate what the SDK
    returns: a complete result, a stream's accumulated state, a stream's error."""

    __slots__ = ("op",)

    op: Operation

    def succeed(self, result: Any) -> None:
        """A complete (non-stream) result: record the response and end."""
        if self.ended:
            return
        attrs = None
        try:
            if self.span.is_recording():
                attrs = self.op.response_attributes(result, self.capture)
        except Exception:
            report_internal_error("recording an OpenAI response")
        self.finish(attrs)

    def _stream_attributes(self, state: Any) -> dict[str, Any]:
        attrs: dict[str, Any] = state.attributes() if state is not None else {}
        first = self.time_to_first_chunk()
        if first is not None:
            attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = first
        return attrs

    def finish_stream(self, state: Any) -> None:
        """The stream ended (exhausted, closed or abandoned): record what was seen and end."""
        if self.ended:
            return
        attrs = None
        try:
            if self.span.is_recording():
                attrs = self._stream_attributes(state)
        except Exception:
            report_internal_error("recording an OpenAI stream")
        self.finish(attrs)

    def fail_stream(self, exc: BaseException, state: Any) -> None:
        """The stream raised ``exc``: record what was seen, then the error, and end."""
        if self.ended:
            return
        attrs = None
        try:
            if state is not None and self.span.is_recording():
                attrs = self._stream_attributes(state)
        except Exception:
            report_internal_error("recording an OpenAI error")
        self.fail(exc, attrs)


def start(
    telemetry: Telemetry, op: Operation, instance: Any, kwargs: dict[str, Any]
) -> OpenAIInvocation | None:
    """Start the span of a call and make it current; ``None`` when anything goes wrong.

    When another OpenAI instrumentation (OTel's openai-v2, ...) already has this call's GenAI
    span open around us, record into that one instead: one span and one counted call per call,
    whichever instrumentation was enabled first.
    """
    try:
        client = getattr(instance, "_client", None)
        model = kwargs.get("model")
        if not isinstance(model, str):
            model = None
        attrs = llm_attributes(op.name, _provider(client), model)
        if op.stream_state is not None:
            attrs[sc.GEN_AI_REQUEST_STREAM] = kwargs.get("stream") is True
        if client is not None:
            _server(client, attrs)
        try:
            op.request_attributes(kwargs, attrs, telemetry.capture)
        except Exception:  # a span without request details beats no span
            report_internal_error("reading an OpenAI request")
        name = llm_span_name(op.name, model)
        host = open_genai_span(op.name, _OPENAI_PROVIDERS, name)
    except Exception:
        report_internal_error("starting an OpenAI span")
        return None
    if host is not None:
        inv = telemetry.adopt(host, attrs, invocation=OpenAIInvocation)
    else:
        inv = telemetry.start(name, LLM_SPAN_KIND, attrs, invocation=OpenAIInvocation)
    if inv is None:
        return None
    call: OpenAIInvocation = inv  # type: ignore[assignment]  # made as invocation= says
    call.op = op
    if host is None and not call.make_current():
        call.end()
        return None
    return call
