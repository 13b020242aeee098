"""``SpanrunCallbackHandler``: one OpenTelemetry span per LangChain run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, TracerProvider

from spanrun.core import semconv as sc
from spanrun.core.internal_errors import raise_enabled
from spanrun.core.internal_errors import report as report_internal_error
from spanrun.instrumentation._lifecycle import (
    LLM_SPAN_KIND,
    Invocation,
    Telemetry,
    is_suppressed,
    llm_attributes,
    llm_span_name,
)
from spanrun.instrumentation.langchain import _convert as cv
from spanrun.instrumentation.langchain._context import (
    ScopedSpan,
    attach_span,
    detach_span,
    outside_langchain,
)

__all__ = ["DEFAULT_MAX_OPEN_RUNS", "SpanrunCallbackHandler"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_OPEN_RUNS = 10_000
RUN_TYPE = "langchain.run_type"
PROMPT_TEMPLATE = "langchain.prompt.template"
PROMPT_INPUT_VARIABLES = "langchain.prompt.input_variables"
RETRIEVED_DOCUMENT_COUNT = "langchain.retriever.document_count"
EVICTED = "spanrun.langchain.evicted"

_F = TypeVar("_F", bound=Callable[..., None])


def _never_raises(method: _F) -> _F:
    """Callbacks must never break the user's chain: our errors follow the one policy
    (:mod:`spanrun.core.internal_errors`: logged once per site, re-raised only when
    ``SPANRUN_RAISE_INTERNAL_ERRORS`` is set)."""
    what = f"tracing a LangChain {method.__name__}"

    @wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            method(*args, **kwargs)
        except Exception:
            report_internal_error(what, logger=logger)

    return wrapper  # type: ignore[return-value]


# Run ids being traced, by the run table tracing them: when several spanrun handlers see the
# same run (autolog's plus one the user passed to a model), only the first records it.
_CLAIMS: dict[UUID, _OpenRuns] = {}


class _Run:
    __slots__ = ("inv", "scoped", "span")

    def __init__(self, inv: Invocation, scoped: ScopedSpan) -> None:
        self.inv = inv
        self.span: Span = inv.span
        self.scoped = scoped


class _OpenRuns:
    """Open runs by run id, oldest evicted past ``capacity`` so memory stays bounded."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: UUID | None) -> _Run | None:
        return self._runs.get(run_id) if run_id is not None else None

    def pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is not None:
            _CLAIMS.pop(run_id, None)
        return run

    def add(self, run_id: UUID, run: _Run) -> _Run | None:
        """Store ``run``; return the run evicted to make room, if any."""
        with self._lock:
            evicted = None
            if len(self._runs) >= self.capacity:
                oldest = next(iter(self._runs))
                evicted = self._runs.pop(oldest)
                _CLAIMS.pop(oldest, None)
                self.evicted += 1
            self._runs[run_id] = run
            return evicted


class SpanrunCallbackHandler(BaseCallbackHandler):
    """A LangChain callback handler that records every run as an OpenTelemetry span.

    Pass it in ``config={"callbacks": [SpanrunCallbackHandler()]}`` or to a model or chain, or
    let ``spanrun.autolog()`` inject one into every callback manager.

    Span names: ``chain {name}`` for runnables and chains, ``prompt {name}`` for prompt
    templates, ``parser {name}`` for output parsers (all INTERNAL, with ``input.value`` /
    ``output.value``); ``chat {model}`` / ``text_completion {model}`` for chat models and LLMs
    (CLIENT, ``gen_ai.*`` attributes; the LangChain run name stands in when the model is
    unknown); ``execute_tool {name}`` for tools (``gen_ai.tool.*``); ``retrieve {name}`` for
    retrievers (query in ``input.value``, documents in ``output.value``). Tool spans carry no
    ``gen_ai.operation.name`` because spanrun counts every span with one as an LLM call.

    A run's parent is the span of its LangChain parent run, else the current OTel span, so a
    chain invoked inside a user's span nests under it. A run seen by several spanrun handlers
    (autolog's and one passed to a model) is recorded once, by the first. While a run is open
    its span is the current span, so calls made by the run (e.g. an instrumented OpenAI client
    under ``ChatOpenAI``) nest under it.

    Args:
        tracer_provider: Provider for the spans; the global one by default.
        log_content: Record prompts, messages, inputs and outputs. ``None`` follows
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (on unless set to false),
            read once here.
        max_open_runs: Runs tracked at once; past it the oldest span is ended and dropped
            (with a warning), so runs that never end cannot grow memory without bound.
    """

    # Run in the caller's task and context (not an executor thread) so that the span made
    # current in on_*_start is current for the model's own call.
    run_inline = True

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        log_content: bool | None = None,
        *,
        max_open_runs: int = DEFAULT_MAX_OPEN_RUNS,
    ) -> None:
        super().__init__()
        self._telemetry = Telemetry.create(
            "spanrun.instrumentation.langchain", tracer_provider, log_content
        )
        self._content = self._telemetry.capture
        self._runs = _OpenRuns(max(1, max_open_runs))
        self._raise_error: bool | None = None
        self.enabled = True

    @property
    def raise_error(self) -> bool:
        """Whether LangChain re-raises an error of ours: by default only when
        ``SPANRUN_RAISE_INTERNAL_ERRORS`` is set (the callbacks re-raise only then)."""
        override = self._raise_error
        return raise_enabled() if override is None else override

    @raise_error.setter
    def raise_error(self, value: bool) -> None:
        self._raise_error = value

    @property
    def open_runs(self) -> int:
        """How many runs have started and not yet ended."""
        return len(self._runs)

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        kind: SpanKind,
        attributes: dict[str, Any],
    ) -> _Run | None:
        if not self.enabled or is_suppressed():
            return None
        if _CLAIMS.setdefault(run_id, self._runs) is not self._runs:
            return None  # another spanrun handler records this run
        inv = None
        try:
            inv = self._start_span(parent_run_id, name, kind, attributes)
        finally:
            if inv is None:
                _CLAIMS.pop(run_id, None)
        if inv is None:
            return None
        run = _Run(inv, attach_span(inv.span))
        evicted = self._runs.add(run_id, run)
        if evicted is not None:
            self._evict(evicted)
        return run

    def _start_span(
        self, parent_run_id: UUID | None, name: str, kind: SpanKind, attributes: dict[str, Any]
    ) -> Invocation | None:
        context: Context | None
        parent = self._runs.get(parent_run_id)
        if parent is None and parent_run_id is not None:
            parent = _claimed_run(parent_run_id)
        if parent is not None:
            context = trace.set_span_in_context(parent.span)
        else:
            # A run LangChain calls a root is a root here too, even when another run's span
            # is current (batch() starts its runs one after another in one context); it
            # still nests under the user's own spans.
            current = trace.get_current_span()
            outer = outside_langchain(current)
            context = None if outer is current else trace.set_span_in_context(outer)
        return self._telemetry.start(name, kind, attributes, context)

    def _evict(self, run: _Run) -> None:
        run.scoped.release()  # its context may still be attached somewhere: make it inert
        run.inv.finish({EVICTED: True})
        if self._runs.evicted == 1 or self._runs.evicted % 1000 == 0:
            logger.warning(
                "spanrun: %d LangChain runs were still open; ended the oldest (%d so far). "
                "Runs that never end usually mean callbacks were lost.",
                self._runs.capacity,
                self._runs.evicted,
            )

    def _end(
        self,
        run_id: UUID,
        attributes: Mapping[str, Any] | None = None,
        error: BaseException | None = None,
    ) -> None:
        run = self._runs.pop(run_id)
        if run is None:
            return
        detach_span(run.scoped)
        if error is None or isinstance(error, GeneratorExit):
            # GeneratorExit means the caller stopped reading a stream: not a failure.
            run.inv.finish(attributes)
        else:
            # Status description = the message, error.type = the type: as the OpenAI spans
            # (and the OTel GenAI instrumentations) record a failure.
            run.inv.fail(error, attributes, escaped=True)

    # -- chains, prompts, parsers ------------------------------------------------------------

    @_never_raises
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any] | Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs, "chain")
        run_type = kwargs.get("run_type") or "chain"
        prefix = run_type if run_type in ("prompt", "parser") else "chain"
        attrs: dict[str, Any] = {RUN_TYPE: run_type}
        if self._content:
            attrs.update(cv.value_attributes(sc.INPUT_VALUE, inputs))
        if run_type == "prompt":
            self._prompt_attributes(attrs, serialized)
        self._start(run_id, parent_run_id, f"{prefix} {name}", SpanKind.INTERNAL, attrs)

    def _prompt_attributes(self, attrs: dict[str, Any], serialized: Any) -> None:
        kwargs = (serialized or {}).get("kwargs") if isinstance(serialized, Mapping) else None
        variables = (kwargs or {}).get("input_variables")
        if isinstance(variables, list) and all(isinstance(v, str) for v in variables):
            attrs[PROMPT_INPUT_VARIABLES] = variables
        if self._content:
            template = cv.template_text(serialized)
            if template is not None:
                attrs[PROMPT_TEMPLATE] = template

    @_never_raises
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        attrs = None
        if self._content:
            attrs = cv.value_attributes(sc.OUTPUT_VALUE, outputs)
            inputs = kwargs.get("inputs")
            if inputs is not None:
                # Streamed runs start with a placeholder input and report the real one here.
                attrs.update(cv.value_attributes(sc.INPUT_VALUE, inputs))
        self._end(run_id, attrs)

    @_never_raises
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    # -- chat models and LLMs ----------------------------------------------------------------

    def _start_model(
        self,
        operation: str,
        serialized: dict[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
        content: Callable[[], str] | None,
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        model = cv.model_name(metadata, params) or None
        # The run type right after the operation name, as spans always had it (update() keeps
        # the operation name where it is).
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: operation,
            RUN_TYPE: "llm" if operation == "text_completion" else "chat_model",
        }
        attrs.update(llm_attributes(operation, cv.provider_name(metadata, params) or None, model))
        attrs.update(cv.request_attributes(params, metadata))
        if self._content and content is not None:
            attrs[sc.GEN_AI_INPUT_MESSAGES] = content()
            tools = params.get("tools")
            if tools:
                attrs[sc.GEN_AI_TOOL_DEFINITIONS] = cv.to_json(tools)
        label = model or _run_name(serialized, kwargs, "model")
        self._start(run_id, parent_run_id, llm_span_name(operation, label), LLM_SPAN_KIND, attrs)

    @_never_raises
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        flat = [m for batch in messages for m in batch]
        self._start_model(
            "chat", serialized, run_id, parent_run_id, metadata, kwargs,
            lambda: cv.input_messages(flat),
        )  # fmt: skip

    @_never_raises
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_model(
            "text_completion", serialized, run_id, parent_run_id, metadata, kwargs,
            lambda: cv.prompt_messages(prompts),
        )  # fmt: skip

    @_never_raises
    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is None or not run.inv.chunk_seen():
            return
        run.inv.record(
            {
                sc.GEN_AI_REQUEST_STREAM: True,
                sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: run.inv.time_to_first_chunk(),
            }
        )

    @_never_raises
    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        if self._runs.get(run_id) is None:
            return
        attrs = cv.response_attributes(response)
        if self._content:
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = cv.output_messages(response)
        self._end(run_id, attrs)

    @_never_raises
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    # -- tools -------------------------------------------------------------------------------

    @_never_raises
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs, "tool")
        attrs: dict[str, Any] = {
            RUN_TYPE: "tool",
            sc.GEN_AI_OPERATION_NAME: "execute_tool",  # required by the GenAI conventions
            sc.GEN_AI_TOOL_NAME: name,
            sc.GEN_AI_TOOL_TYPE: "function",
        }
        description = (serialized or {}).get("description")
        if isinstance(description, str) and description:
            attrs["gen_ai.tool.description"] = description
        call_id = kwargs.get("tool_call_id")
        if isinstance(call_id, str):
            attrs[sc.GEN_AI_TOOL_CALL_ID] = call_id
        if self._content:
            attrs[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = (
                cv.to_json(inputs) if inputs is not None else input_str
            )
        self._start(run_id, parent_run_id, f"execute_tool {name}", SpanKind.INTERNAL, attrs)

    @_never_raises
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        attrs: dict[str, Any] = {}
        call_id = getattr(
            output, "tool_call_id", None
        )  # a ToolMessage (older cores say it here only)
        if isinstance(call_id, str):
            attrs[sc.GEN_AI_TOOL_CALL_ID] = call_id
        if self._content:
            result = getattr(output, "content", output)  # ToolMessage or a raw value
            text = result if isinstance(result, str) else cv.to_json(result)
            attrs[sc.GEN_AI_TOOL_CALL_RESULT] = text
        self._end(run_id, attrs)

    @_never_raises
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    # -- retrievers --------------------------------------------------------------------------

    @_never_raises
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs, "retriever")
        attrs: dict[str, Any] = {RUN_TYPE: "retriever"}
        if self._content:
            attrs[sc.INPUT_VALUE] = query
        self._start(run_id, parent_run_id, f"retrieve {name}", SpanKind.INTERNAL, attrs)

    @_never_raises
    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        attrs: dict[str, Any] = {RETRIEVED_DOCUMENT_COUNT: len(documents)}
        if self._content:
            attrs[sc.OUTPUT_VALUE] = cv.to_json(cv.document_dicts(documents))
            attrs["output.mime_type"] = "application/json"
        self._end(run_id, attrs)

    @_never_raises
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)


def _claimed_run(run_id: UUID) -> _Run | None:
    """The run another spanrun handler is recording (its parent for a run only we see)."""
    runs = _CLAIMS.get(run_id)
    return runs.get(run_id) if runs is not None else None


def _run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default
