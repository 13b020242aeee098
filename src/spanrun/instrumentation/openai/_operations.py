"""What each OpenAI operation records: request attributes, response attributes, stream state.

One :class:`Operation` per API family (chat, text completion, embeddings, responses). The
functions are looked up on the operation objects at call time, so tests can replace them to
inject faults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spanrun.core import semconv as sc
from spanrun.instrumentation.openai import _messages as msg

__all__ = ["CHAT", "EMBEDDINGS", "RESPONSES", "TEXT_COMPLETION", "Operation", "is_given"]

_SENTINEL_NAMES = frozenset({"NotGiven", "Omit"})

# Request parameters copied as-is when present: (kwarg, attribute).
_COMMON_PARAMS = (
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("seed", sc.GEN_AI_REQUEST_SEED),
)
_REQUEST_SERVICE_TIER = "openai.request.service_tier"
_EMBEDDINGS_DIMENSIONS = "gen_ai.embeddings.dimension.count"


def is_given(value: Any) -> bool:
    """False for ``None`` and the SDK's ``NOT_GIVEN`` / ``omit`` sentinels."""
    return value is not None and type(value).__name__ not in _SENTINEL_NAMES


def _primitive(value: Any) -> Any:
    # Attribute values must be primitives; numbers arrive as int/float, anything else as str.
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def _copy_params(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    for key, attr in _COMMON_PARAMS:
        value = kwargs.get(key)
        if value is not None and is_given(value):
            attrs[attr] = _primitive(value)
    tier = kwargs.get("service_tier")
    if tier is not None and is_given(tier):
        attrs[_REQUEST_SERVICE_TIER] = str(tier)


def _stop(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    stop = kwargs.get("stop")
    if stop is not None and is_given(stop):
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,) if isinstance(stop, str) else tuple(stop)


def _choice_count(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    n = kwargs.get("n")
    if n is not None and is_given(n) and n != 1:
        attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n


def _field(obj: Any, name: str) -> Any:
    # Older SDKs keep fields they do not model (usage details) as plain dicts.
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _usage(usage: Any, attrs: dict[str, Any], input_key: str, output_key: str) -> None:
    if usage is None:
        return
    value = getattr(usage, input_key, None)
    if value is not None:
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = value
    value = getattr(usage, output_key, None)
    if value is not None:
        attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = value
    in_details = getattr(usage, f"{input_key}_details", None)
    cached = _field(in_details, "cached_tokens")
    if cached is not None:
        attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
    out_details = getattr(usage, f"{output_key}_details", None)
    reasoning = _field(out_details, "reasoning_tokens")
    if reasoning is not None:
        attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning


def _response_meta(result: Any, attrs: dict[str, Any]) -> None:
    rid = getattr(result, "id", None)
    if rid:
        attrs[sc.GEN_AI_RESPONSE_ID] = rid
    model = getattr(result, "model", None)
    if model:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = model
    tier = getattr(result, "service_tier", None)
    if tier:
        attrs[sc.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER] = str(tier)
    fingerprint = getattr(result, "system_fingerprint", None)
    if fingerprint:
        attrs[sc.GEN_AI_OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint


def _output_type(fmt: Any) -> str | None:
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        return "json" if kind in ("json_schema", "json_object") else kind
    if isinstance(fmt, type):  # .parse(response_format=PydanticModel)
        return "json"
    return None


# ---------------------------------------------------------------------------- chat


def chat_request(kwargs: dict[str, Any], attrs: dict[str, Any], capture: bool) -> None:
    _copy_params(kwargs, attrs)
    _stop(kwargs, attrs)
    _choice_count(kwargs, attrs)
    max_tokens = kwargs.get("max_completion_tokens")
    if max_tokens is None or not is_given(max_tokens):
        max_tokens = kwargs.get("max_tokens")
    if max_tokens is not None and is_given(max_tokens):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    fmt = kwargs.get("response_format")
    if fmt is not None and is_given(fmt):
        kind = _output_type(fmt)
        if kind:
            attrs[sc.GEN_AI_OUTPUT_TYPE] = kind
    if capture:
        attrs[sc.GEN_AI_INPUT_MESSAGES] = msg.dumps(msg.chat_input_messages(kwargs.get("messages")))
        tools = kwargs.get("tools")
        if tools is not None and is_given(tools):
            attrs[sc.GEN_AI_TOOL_DEFINITIONS] = msg.dumps(msg.tool_definitions(tools))


def chat_response(result: Any, capture: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    _response_meta(result, attrs)
    choices = result.choices
    attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(str(c.finish_reason) for c in choices)
    _usage(result.usage, attrs, "prompt_tokens", "completion_tokens")
    if capture:
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = msg.dumps(msg.chat_output_messages(choices))
    return attrs


def _merge_tool_calls(merged_calls: dict[int, dict[str, Any]], calls: Any) -> None:
    """Streamed tool calls come in fragments keyed by index: id and name once, arguments
    in pieces."""
    for call in calls:
        merged = merged_calls.get(call.index)
        if merged is None:
            merged = merged_calls[call.index] = {"id": None, "name": None, "args": []}
        if call.id:
            merged["id"] = call.id
        fn = call.function
        if fn is not None:
            if fn.name:
                merged["name"] = fn.name
            if fn.arguments:
                merged["args"].append(fn.arguments)


class ChatStreamState:
    """Accumulates streamed chat chunks: per choice text, refusal, tool-call fragments."""

    __slots__ = ("capture", "choices", "meta", "usage")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.choices: dict[int, list[Any]] = {}  # index -> [texts, refusals, calls, finish]
        self.meta: Any = None
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        # Per-chunk hot path (100+ calls per stream): plain attribute reads, no helpers.
        if self.meta is None:
            self.meta = chunk
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        choices = chunk.choices
        if not choices:
            return
        capture = self.capture
        for choice in choices:
            state = self.choices.get(choice.index)
            if state is None:
                state = self.choices[choice.index] = [[], [], {}, None]
            finish = choice.finish_reason
            if finish is not None:
                state[3] = finish
            if not capture:
                continue
            delta = choice.delta
            if delta is None:
                continue
            content = delta.content
            if content:
                state[0].append(content)
            calls = delta.tool_calls
            if calls:
                _merge_tool_calls(state[2], calls)
            refusal = getattr(delta, "refusal", None)
            if refusal:
                state[1].append(refusal)

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.meta is not None:
            _response_meta(self.meta, attrs)
        ordered = [self.choices[i] for i in sorted(self.choices)]
        finished = tuple(str(s[3]) for s in ordered if s[3] is not None)
        if finished:  # a stream cut short has no finish reason
            attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = finished
        _usage(self.usage, attrs, "prompt_tokens", "completion_tokens")
        if self.capture:
            out = []
            for texts, refusals, calls, finish in ordered:
                parts: list[dict[str, Any]] = []
                if texts:
                    parts.append({"type": "text", "content": "".join(texts)})
                if refusals:
                    parts.append({"type": "refusal", "content": "".join(refusals)})
                for i in sorted(calls):
                    call = calls[i]
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": call["id"],
                            "name": call["name"],
                            "arguments": msg._arguments("".join(call["args"])),
                        }
                    )
                out.append({"role": "assistant", "parts": parts, "finish_reason": finish})
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = msg.dumps(out)
        return attrs


# ---------------------------------------------------------------------------- completions


def completion_request(kwargs: dict[str, Any], attrs: dict[str, Any], capture: bool) -> None:
    _copy_params(kwargs, attrs)
    _stop(kwargs, attrs)
    _choice_count(kwargs, attrs)
    max_tokens = kwargs.get("max_tokens")
    if max_tokens is not None and is_given(max_tokens):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    if capture:
        attrs[sc.GEN_AI_INPUT_MESSAGES] = msg.dumps(
            msg.completion_input_messages(kwargs.get("prompt"))
        )


def completion_response(result: Any, capture: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    _response_meta(result, attrs)
    choices = result.choices
    attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(str(c.finish_reason) for c in choices)
    _usage(result.usage, attrs, "prompt_tokens", "completion_tokens")
    if capture:
        out = [
            {"role": "assistant", "parts": msg.text_parts(c.text), "finish_reason": c.finish_reason}
            for c in choices
        ]
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = msg.dumps(out)
    return attrs


class CompletionStreamState:
    __slots__ = ("capture", "choices", "meta", "usage")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.choices: dict[int, list[Any]] = {}  # index -> [texts, finish]
        self.meta: Any = None
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        if self.meta is None:
            self.meta = chunk
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        for choice in chunk.choices or ():
            state = self.choices.get(choice.index)
            if state is None:
                state = self.choices[choice.index] = [[], None]
            if choice.finish_reason is not None:
                state[1] = choice.finish_reason
            if self.capture and choice.text:
                state[0].append(choice.text)

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.meta is not None:
            _response_meta(self.meta, attrs)
        ordered = [self.choices[i] for i in sorted(self.choices)]
        finished = tuple(str(s[1]) for s in ordered if s[1] is not None)
        if finished:
            attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = finished
        _usage(self.usage, attrs, "prompt_tokens", "completion_tokens")
        if self.capture:
            out = [
                {"role": "assistant", "parts": msg.text_parts("".join(t)), "finish_reason": f}
                for t, f in ordered
            ]
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = msg.dumps(out)
        return attrs


# ---------------------------------------------------------------------------- embeddings


def embeddings_request(kwargs: dict[str, Any], attrs: dict[str, Any], capture: bool) -> None:
    fmt = kwargs.get("encoding_format")
    if fmt is not None and is_given(fmt):
        attrs[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = (str(fmt),)
    dims = kwargs.get("dimensions")
    if dims is not None and is_given(dims):
        attrs[_EMBEDDINGS_DIMENSIONS] = dims
    if capture:
        # The text embedded, as a user message: a string as it is, several as a JSON list
        # (token ids too), so the prediction row's input holds it.
        value = kwargs.get("input")
        text = value if isinstance(value, str) else msg.dumps(value)
        attrs[sc.GEN_AI_INPUT_MESSAGES] = msg.dumps(
            [{"role": "user", "parts": msg.text_parts(text)}]
        )


def embeddings_response(result: Any, capture: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    model = getattr(result, "model", None)
    if model:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = model
    data = getattr(result, "data", None)
    if data:
        vector = getattr(data[0], "embedding", None)
        if isinstance(vector, list):  # base64 answers are a string: their size is not known
            attrs[_EMBEDDINGS_DIMENSIONS] = len(vector)
    usage = getattr(result, "usage", None)
    tokens = getattr(usage, "prompt_tokens", None)
    if tokens is not None:
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = tokens
    return attrs


# ---------------------------------------------------------------------------- responses


def responses_request(kwargs: dict[str, Any], attrs: dict[str, Any], capture: bool) -> None:
    _copy_params(kwargs, attrs)
    max_tokens = kwargs.get("max_output_tokens")
    if max_tokens is not None and is_given(max_tokens):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    text = kwargs.get("text")
    if isinstance(text, dict):
        kind = _output_type(text.get("format"))
        if kind:
            attrs[sc.GEN_AI_OUTPUT_TYPE] = kind
    if is_given(kwargs.get("text_format")):
        attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
    if capture:
        value = kwargs.get("input")
        if value is not None and is_given(value):
            attrs[sc.GEN_AI_INPUT_MESSAGES] = msg.dumps(msg.responses_input_messages(value))
        instructions = kwargs.get("instructions")
        if instructions is not None and is_given(instructions):
            parts = msg.text_parts(instructions)
            attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = msg.dumps(parts)
        tools = kwargs.get("tools")
        if tools is not None and is_given(tools):
            attrs[sc.GEN_AI_TOOL_DEFINITIONS] = msg.dumps(msg.tool_definitions(tools))


def responses_response(result: Any, capture: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    _response_meta(result, attrs)
    finish = msg.responses_finish_reason(result)
    if finish:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (finish,)
    _usage(getattr(result, "usage", None), attrs, "input_tokens", "output_tokens")
    if getattr(result, "status", None) == "failed":
        error = getattr(result, "error", None)
        attrs[sc.ERROR_TYPE] = str(getattr(error, "code", None) or "response_failed")
    if capture:
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = msg.dumps(msg.response_output_messages(result, finish))
    return attrs


_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesStreamState:
    """Streamed Responses API events: the terminal event carries the whole response."""

    __slots__ = ("capture", "error", "final", "meta")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.final: Any = None
        self.meta: Any = None
        self.error: str | None = None

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind in _TERMINAL_EVENTS:
            self.final = event.response
        elif kind == "response.created":
            self.meta = event.response
        elif kind == "error":  # the SDK yields error events; the call failed all the same
            self.error = str(getattr(event, "code", None) or "error")

    def attributes(self) -> dict[str, Any]:
        if self.final is not None:
            attrs = responses_response(self.final, self.capture)
        else:
            attrs = {}
            if self.meta is not None:
                _response_meta(self.meta, attrs)
        if self.error is not None:
            attrs[sc.ERROR_TYPE] = self.error
        return attrs


# ---------------------------------------------------------------------------- table


@dataclass
class Operation:
    """One GenAI operation of the OpenAI API."""

    name: str
    request_attributes: Callable[[dict[str, Any], dict[str, Any], bool], None]
    response_attributes: Callable[[Any, bool], dict[str, Any]]
    stream_state: Callable[[bool], Any] | None


CHAT = Operation("chat", chat_request, chat_response, ChatStreamState)
TEXT_COMPLETION = Operation(
    "text_completion", completion_request, completion_response, CompletionStreamState
)
EMBEDDINGS = Operation("embeddings", embeddings_request, embeddings_response, None)
RESPONSES = Operation("chat", responses_request, responses_response, ResponsesStreamState)
