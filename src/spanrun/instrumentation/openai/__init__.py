"""OpenTelemetry instrumentation of the ``openai`` client (1.40 to the newest 3.x).

Usually reached through ``spanrun.autolog()`` or ``spanrun.openai.autolog()``; usable alone::

    from spanrun.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider, log_content=True)
    ...
    OpenAIInstrumentor().uninstrument()

Every call of ``chat.completions.create`` / ``.parse``, ``completions.create``,
``embeddings.create`` and ``responses.create`` / ``.parse`` (and ``.stream()`` helpers, which
call ``create``), sync and async, plain or through ``with_raw_response`` /
``with_streaming_response``, on ``OpenAI`` and ``AzureOpenAI`` clients, becomes one CLIENT span
named ``{gen_ai.operation.name} {gen_ai.request.model}`` with the GenAI semantic-convention
attributes. Message content (``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``, ``gen_ai.tool.definitions``) is captured unless
``log_content=False`` or ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false``.
API keys and headers are never recorded. Streams come back as transparent proxies (still
``isinstance(s, openai.Stream)``) whose span ends once, on exhaustion, error, ``close()``,
context exit or garbage collection, with ``gen_ai.response.time_to_first_chunk`` in seconds.
Embedding inputs are not recorded as content (the conventions define none for embeddings).

Patching happens on the SDK's resource classes, now or when ``openai`` is first imported.
``instrument()`` twice is harmless; ``uninstrument()`` removes every patch. OTel's
suppress-instrumentation context key is honoured. Internal errors are logged, never raised
(``SPANRUN_RAISE_INTERNAL_ERRORS=1`` re-raises them, for debugging spanrun itself).

Raw responses: ``with_raw_response`` calls are parsed at once (the SDK caches the result, so the
user's ``parse()`` returns the same object) and streamed ones end their span when the stream
does; ``with_streaming_response`` spans end at ``parse()`` (or with the stream it returns) or
when the response is closed. Known limit: the SDK builds a client's ``with_raw_response`` /
``with_streaming_response`` accessor once, binding the methods of that moment; on a client
that used them *before* ``instrument()``, those two forms stay uninstrumented.
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
from typing import Any

import wrapt
from opentelemetry import trace

from spanrun.instrumentation._lifecycle import Telemetry
from spanrun.instrumentation._wrapping import Patcher, Target, internal_errors
from spanrun.instrumentation.openai import _operations as ops
from spanrun.instrumentation.openai._wrappers import (
    SdkTypes,
    SettingsHolder,
    async_wrapper,
    sync_wrapper,
)

__all__ = ["OpenAIInstrumentor"]

_TRACER_NAME = "spanrun.instrumentation.openai"
_SUPPORTED = "openai >= 1.40"

# (module, sync class, async class, method, operation): one table drives wrap and unwrap.
# Missing entries (older or newer SDKs) are skipped.
_METHODS: tuple[tuple[str, str, str, str, ops.Operation], ...] = (
    ("openai.resources.chat.completions", "Completions", "AsyncCompletions", "create", ops.CHAT),
    ("openai.resources.chat.completions", "Completions", "AsyncCompletions", "parse", ops.CHAT),
    # Older SDKs (1.40-1.9x) have parse() under beta only.
    (
        "openai.resources.beta.chat.completions",
        "Completions",
        "AsyncCompletions",
        "parse",
        ops.CHAT,
    ),
    (
        "openai.resources.completions",
        "Completions",
        "AsyncCompletions",
        "create",
        ops.TEXT_COMPLETION,
    ),
    ("openai.resources.embeddings", "Embeddings", "AsyncEmbeddings", "create", ops.EMBEDDINGS),
    ("openai.resources.responses", "Responses", "AsyncResponses", "create", ops.RESPONSES),
    ("openai.resources.responses", "Responses", "AsyncResponses", "parse", ops.RESPONSES),
)


def _targets(holder: SettingsHolder) -> list[Target]:
    targets = []
    for module, sync_cls, async_cls, method, op in _METHODS:
        targets.append(
            Target(module, sync_cls, method, functools.partial(sync_wrapper, holder, op))
        )
        targets.append(
            Target(module, async_cls, method, functools.partial(async_wrapper, holder, op))
        )
    return targets


def _resolve_sdk_types() -> None:
    import openai

    legacy = importlib.import_module("openai._legacy_response")
    response = importlib.import_module("openai._response")
    SdkTypes.stream = (openai.Stream,)
    SdkTypes.async_stream = (openai.AsyncStream,)
    SdkTypes.legacy_raw = (legacy.LegacyAPIResponse,)
    SdkTypes.raw = (response.APIResponse,)
    SdkTypes.async_raw = (response.AsyncAPIResponse,)


class OpenAIInstrumentor:
    """Instruments the ``openai`` client. A process-wide singleton, like OTel's instrumentors."""

    _instance: OpenAIInstrumentor | None = None
    _lock = threading.Lock()

    def __new__(cls) -> OpenAIInstrumentor:
        with cls._lock:
            if cls._instance is None:
                inst = super().__new__(cls)
                inst._holder = SettingsHolder()
                inst._patcher = Patcher()
                inst._hook_registered = False
                cls._instance = inst
            return cls._instance

    _holder: SettingsHolder
    _patcher: Patcher
    _hook_registered: bool

    @property
    def is_instrumented(self) -> bool:
        return self._holder.settings is not None

    def instrumentation_dependencies(self) -> tuple[str, ...]:
        return (_SUPPORTED,)

    def instrument(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        log_content: bool | None = None,
        **_: Any,  # what opentelemetry-instrument passes (skip_dep_check, ...)
    ) -> None:
        """Patch the client now, or when ``openai`` is imported. A second call only updates
        the settings (provider, content capture); it never patches twice."""
        telemetry = Telemetry.create(_TRACER_NAME, tracer_provider, log_content)
        with self._lock:
            self._holder.settings = telemetry
            if not self._hook_registered:
                # Runs now when openai is already imported, else right after its import.
                wrapt.when_imported("openai")(self._on_openai_import)
                self._hook_registered = True
            elif not self._patcher.active and _openai_imported():
                self._patch()

    def uninstrument(self) -> None:
        """Remove every patch; spans of streams still open end normally."""
        with self._lock:
            self._holder.settings = None
            self._patcher.remove()

    def _on_openai_import(self, module: Any) -> None:
        if self._holder.settings is not None and not self._patcher.active:
            self._patch()

    def _patch(self) -> None:
        with internal_errors("instrumenting openai"):
            _resolve_sdk_types()
            self._patcher.apply(_targets(self._holder))


def _openai_imported() -> bool:
    return "openai" in sys.modules
