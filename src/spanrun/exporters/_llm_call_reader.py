"""Read one LLM call out of a span, whichever GenAI instrumentation produced it (pure).

Supported attribute vocabularies, tried in this order for each field (see ``FIELD_SOURCES``):

- OpenTelemetry GenAI semantic conventions, latest (spanrun's own instrumentors, OTel
  ``openai-v2``): ``gen_ai.operation.name``, ``gen_ai.usage.input_tokens``,
  ``gen_ai.input.messages`` ...;
- older semconv: ``gen_ai.system``, ``gen_ai.usage.prompt_tokens``/``completion_tokens``, the
  ``gen_ai.content.prompt``/``gen_ai.content.completion`` span events;
- OpenLLMetry: recent releases (0.62) emit the latest semconv plus
  ``gen_ai.usage.total_tokens``; older ones ``llm.request.type``,
  ``gen_ai.prompt.N.role/content``, ``gen_ai.completion.N.content``, ``llm.usage.*``;
- OpenInference: ``openinference.span.kind``, ``llm.model_name``, ``llm.token_count.*``,
  ``llm.input_messages.N.message.*``, ``llm.invocation_parameters``, ``input.value``,
  ``output.value``.

A span is an LLM call when an operation can be read from it (``gen_ai.operation.name``, else
OpenLLMetry's request type, else OpenInference's LLM/EMBEDDING span kind).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, cast

from spanrun.core import semconv as sc

try:  # parses message JSON ~3x faster than the json module; optional
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]

__all__ = ["FIELD_SOURCES", "PARAM_FIELDS", "LLMCall", "llm_operation", "read_llm_call"]

# Normalised field -> attribute names that carry it, first found wins.
FIELD_SOURCES: dict[str, tuple[str, ...]] = {
    "request_model": (sc.GEN_AI_REQUEST_MODEL, "llm.request.model", "llm.model_name"),
    "response_model": (sc.GEN_AI_RESPONSE_MODEL, "llm.response.model", "llm.model_name"),
    "provider": (sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM, "llm.provider", "llm.system"),
    "input_tokens": (
        sc.GEN_AI_USAGE_INPUT_TOKENS,
        "gen_ai.usage.prompt_tokens",
        "llm.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "output_tokens": (
        sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        "gen_ai.usage.completion_tokens",
        "llm.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "total_tokens": (
        "gen_ai.usage.total_tokens",
        "llm.usage.total_tokens",
        "llm.token_count.total",
    ),
    "temperature": (sc.GEN_AI_REQUEST_TEMPERATURE, "llm.request.temperature"),
    "top_p": (sc.GEN_AI_REQUEST_TOP_P, "llm.request.top_p", "llm.top_p"),
    "max_tokens": (sc.GEN_AI_REQUEST_MAX_TOKENS, "llm.request.max_tokens"),
    "frequency_penalty": (sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, "llm.frequency_penalty"),
    "presence_penalty": (sc.GEN_AI_REQUEST_PRESENCE_PENALTY, "llm.presence_penalty"),
    "seed": (sc.GEN_AI_REQUEST_SEED,),
    "stop_sequences": (sc.GEN_AI_REQUEST_STOP_SEQUENCES, "llm.chat.stop_sequences"),
    "choice_count": (sc.GEN_AI_REQUEST_CHOICE_COUNT,),
    "ttft_s": (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,),
    "error_type": (sc.ERROR_TYPE,),
}

# Request settings that become run params ``llm.<name>``; OpenInference keeps them in the
# ``llm.invocation_parameters`` JSON under these keys.
PARAM_FIELDS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "stop_sequences",
    "choice_count",
)
_INVOCATION_KEYS = {"choice_count": "n", "stop_sequences": "stop"}
# (run param, attribute names, OpenInference invocation key), resolved once.
_PARAM_SOURCES: tuple[tuple[str, tuple[str, ...], str], ...] = tuple(
    (f"llm.{name}", FIELD_SOURCES[name], _INVOCATION_KEYS.get(name, name)) for name in PARAM_FIELDS
)
_PARAM_ATTRIBUTES = frozenset(key for _, keys, _ in _PARAM_SOURCES for key in keys)

# The sources of the fields read for every call, resolved once.
_REQUEST_MODEL = FIELD_SOURCES["request_model"]
_RESPONSE_MODEL = FIELD_SOURCES["response_model"]
_PROVIDER = FIELD_SOURCES["provider"]
_INPUT_TOKENS = FIELD_SOURCES["input_tokens"]
_OUTPUT_TOKENS = FIELD_SOURCES["output_tokens"]
_TOTAL_TOKENS = FIELD_SOURCES["total_tokens"]
_ERROR_TYPE = FIELD_SOURCES["error_type"]

_OPENLLMETRY_TYPES = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
}
_OPENINFERENCE_KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}


@dataclass
class LLMCall:
    """What the run exporter needs from one LLM call."""

    operation: str
    model: str = ""
    provider: str = ""
    params: dict[str, str] = field(default_factory=dict)  # run params, keys "llm.*"
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    time_to_first_token_ms: float | None = None
    inputs: str = ""  # the user-side input (last user message)
    outputs: str = ""  # the model's answer
    prompts: str = ""  # every input message, JSON [{"role", "content"}]
    error: str = ""


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` (one ``FIELD_SOURCES`` entry) that has one."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


# A token count beyond this is no count (a broken usage block, ``1e999`` parsed as inf): the
# call is kept without it. 2**53 keeps running totals exact in float metrics and in int64.
_MAX_COUNT = 2**53
_MAX_TTFT_MS = 1e12  # ~30 years


def _as_int(value: Any) -> int | None:
    """A token count: a non-negative whole number below 2**53, else None."""
    try:
        number = int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):  # "abc", inf
        return None
    return number if number is not None and 0 <= number < _MAX_COUNT else None


#: GenAI operations that are not a model call (a tool run, an agent): no tokens, no row.
_NOT_MODEL_CALLS = frozenset({"execute_tool", "invoke_agent", "create_agent"})


def llm_operation(attrs: Mapping[str, Any]) -> str | None:
    """The GenAI operation of a span, or None when it is not an LLM call."""
    op = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if op:
        return None if op in _NOT_MODEL_CALLS else str(op)
    request_type = attrs.get("llm.request.type")
    if request_type:
        return _OPENLLMETRY_TYPES.get(str(request_type), str(request_type))
    kind = attrs.get("openinference.span.kind")
    if kind:
        return _OPENINFERENCE_KINDS.get(str(kind))
    return None


def _text(content: Any) -> str:
    """Text of a message content: a string, semconv parts, or OpenAI content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if type(content) is list:  # the common JSON shapes first (ABC checks are slow)
        if len(content) == 1 and type(content[0]) is dict:
            text = content[0].get("content")  # one semconv text part: the usual message
            if type(text) is str:
                return text
        return "".join([_text(p) for p in content])
    if isinstance(content, (dict, Mapping)):
        for key in ("content", "text", "result"):
            if isinstance(content.get(key), str):
                return cast(str, content[key])
        return json.dumps(content, ensure_ascii=False)
    if isinstance(content, Sequence):
        return "".join(_text(p) for p in content)
    return str(content)


def _message(m: Any) -> dict[str, str]:
    if type(m) is dict and "parts" in m:  # semconv
        return {"role": str(m.get("role") or "user"), "content": _text(m["parts"])}
    if not isinstance(m, (dict, Mapping)):
        return {"role": "user", "content": _text(m)}
    content = m.get("parts") if "parts" in m else m.get("content", m.get("message"))
    return {"role": str(m.get("role") or "user"), "content": _text(content)}


def _parse_json(text: str) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(text)
        except ValueError:
            pass  # NaN, huge numbers...: the json module decides
    return json.loads(text)


def _one_text_part(m: Any) -> str | None:
    """The text of the usual semconv message, one text part (``_message(m)["content"]``);
    None when ``m`` has another shape."""
    if type(m) is dict:
        parts = m.get("parts")
        if type(parts) is list and len(parts) == 1:
            part = parts[0]
            if type(part) is dict:
                text = part.get("content")
                if type(text) is str:
                    return text
    return None


def _json_messages(raw: Any) -> list[dict[str, str]] | None:
    if raw is None:
        return None
    try:
        data = _parse_json(raw) if isinstance(raw, str) else raw
    except ValueError:
        return [{"role": "user", "content": str(raw)}]
    return _messages(data)


def _messages(data: Any) -> list[dict[str, str]]:
    """The {"role", "content"} messages of parsed message JSON, whatever its shape."""
    if type(data) is list:  # the usual shape, before the slower ABC checks
        messages = []
        for m in data:
            text = _one_text_part(m)  # the usual message: _message's dict, without its calls
            if text is None:
                messages.append(_message(m))
            else:
                messages.append({"role": str(m.get("role") or "user"), "content": text})
        return messages
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, Sequence) or isinstance(data, str):
        return [{"role": "user", "content": str(data)}]
    return [_message(m) for m in data]


def _indexed_messages(
    attrs: Mapping[str, Any], prefix: str, role_key: str, content_key: str
) -> list[dict[str, str]]:
    """OpenLLMetry/OpenInference flattened lists: ``<prefix>.<i>.<role_key>`` ..."""
    out: list[dict[str, str]] = []
    i = 0
    while True:
        role = attrs.get(f"{prefix}.{i}.{role_key}")
        content = attrs.get(f"{prefix}.{i}.{content_key}")
        if role is None and content is None:
            return out
        out.append({"role": str(role or "assistant"), "content": _text(content)})
        i += 1


def _event_messages(events: Sequence[Any], name: str, attr: str) -> list[dict[str, str]] | None:
    for event in events:
        if event.name == name and event.attributes:
            return _json_messages(event.attributes.get(attr))
    return None


def _older_input_messages(attrs: Mapping[str, Any], events: Sequence[Any]) -> list[dict[str, str]]:
    """The input messages of a span without ``gen_ai.input.messages``."""
    return (
        _event_messages(events, "gen_ai.content.prompt", "gen_ai.prompt")
        or _indexed_messages(attrs, "gen_ai.prompt", "role", "content")
        or _indexed_messages(attrs, "llm.input_messages", "message.role", "message.content")
    )


def _older_output_messages(attrs: Mapping[str, Any], events: Sequence[Any]) -> list[dict[str, str]]:
    """The output messages of a span whose ``gen_ai.output.messages`` gave none."""
    return (
        _event_messages(events, "gen_ai.content.completion", "gen_ai.completion")
        or _indexed_messages(attrs, "gen_ai.completion", "role", "content")
        or _indexed_messages(attrs, "llm.output_messages", "message.role", "message.content")
    )


def _output_text(attrs: Mapping[str, Any], events: Sequence[Any]) -> str:
    """The content of the span's first output message, "" when it has none.

    Only that text is used: for the usual first message (one text part) no message dicts are
    built; any other shape takes the general path, from the JSON parsed once.
    """
    raw = attrs.get(sc.GEN_AI_OUTPUT_MESSAGES)
    if type(raw) is str:
        try:
            data = _parse_json(raw)
        except ValueError:
            return raw  # _json_messages' [{"role": "user", "content": raw}]
        if type(data) is list and data:
            text = _one_text_part(data[0])
            if text is not None:
                return text
        outputs: list[dict[str, str]] | None = _messages(data)
    else:
        outputs = _json_messages(raw)
    outputs = outputs or _older_output_messages(attrs, events)
    return outputs[0]["content"] if outputs else ""


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return _parse_json(value)
        except ValueError:
            return value
    return value


# The text of the float params seen, as ``str(value)`` gives it: that costs ~2.7k
# instructions (the shortest-repr search) and a program's calls repeat the same few settings.
# Equal nonzero floats have the same text; 0.0 and -0.0, equal with different texts, are not
# kept.
_float_texts: dict[float, str] = {}


def _param_text(value: Any) -> str:
    if type(value) is float and value:
        text = _float_texts.get(value)
        if text is None:
            text = str(value)
            if len(_float_texts) < 1024:  # bounded: the odd float is converted each time
                _float_texts[value] = text
        return text
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


# Which params to read from which attributes, per set of param attributes a span carries:
# spans of one instrumentation carry the same few, so this is worked out once per set.
_ParamPlan = tuple[tuple[str, tuple[str, ...]], ...]
_param_plans: dict[frozenset[str], _ParamPlan] = {}


def _param_plan(present: frozenset[str]) -> _ParamPlan:
    plan = _param_plans.get(present)
    if plan is None:
        plan = tuple(
            (param, tuple(key for key in keys if key in present))  # highest priority first
            for param, keys, _ in _PARAM_SOURCES
            if not present.isdisjoint(keys)
        )
        if len(_param_plans) < 1024:  # bounded: odd spans just work it out each time
            _param_plans[present] = plan
    return plan


def _error_text(error_type: Any, description: str) -> str:
    """The prediction row's ``error``: "<error.type>: <status description>", once.

    The description is the exception's message (GenAI instrumentations) or already
    "<Type>: <message>" (the OTel SDK's ``start_as_current_span`` records that): the type is
    not written twice.
    """
    if not error_type:
        return description or "error"
    kind = str(error_type)
    short = kind.rsplit(".", 1)[-1]
    if not description or description in (kind, short):
        return kind
    if description.startswith((f"{kind}: ", f"{short}: ")):
        return f"{kind}: {description.split(': ', 1)[1]}"
    return f"{kind}: {description}"


def _params(attrs: Mapping[str, Any], model: str, provider: str) -> dict[str, str]:
    params: dict[str, str] = {}
    if model:
        params["llm.model"] = model
    if provider:
        params["llm.provider"] = provider
    present = _PARAM_ATTRIBUTES.intersection(attrs)
    raw = attrs.get("llm.invocation_parameters")
    invocation = _loads(raw) if raw else None
    if invocation is not None and not isinstance(invocation, Mapping):
        invocation = None  # (the None check first: an ABC isinstance check is slow)
    if invocation is None:
        if present:
            plan = _param_plans.get(present) or _param_plan(present)  # no call when cached
            for param, keys in plan:
                for key in keys:
                    value = attrs[key]
                    if value is not None and value != "":
                        params[param] = _param_text(value)
                        break
        return params
    # OpenInference: attributes first, then the invocation parameters, in param order.
    for param, keys, invocation_key in _PARAM_SOURCES:
        value = None
        for key in keys:
            if key in present:
                value = attrs[key]
                if value is not None and value != "":
                    break
                value = None
        if value is None:
            value = invocation.get(invocation_key)
        if value is not None:
            params[param] = _param_text(value)
    return params


_json_str = encode_basestring  # a str as a JSON string literal, as json.dumps writes it


def _messages_json(messages: list[dict[str, str]]) -> str:
    """``json.dumps(messages, ensure_ascii=False)`` for {"role", "content"} string dicts.

    Written out because it runs per call: the same text, several times faster.
    """
    if len(messages) == 1:  # the usual prompt: one user message, without the join
        m = messages[0]
        return f'[{{"role": {_json_str(m["role"])}, "content": {_json_str(m["content"])}}}]'
    return (
        "["
        + ", ".join(
            [
                f'{{"role": {_json_str(m["role"])}, "content": {_json_str(m["content"])}}}'
                for m in messages
            ]
        )
        + "]"
    )


def read_llm_call(
    attrs: Mapping[str, Any],
    events: Sequence[Any] = (),
    status_error: str | None = None,
) -> LLMCall | None:
    """Normalise an LLM span's attributes; None when the span is not an LLM call.

    ``status_error`` is the span's status description when its status is ERROR ("" when it
    failed without one), None when it did not fail.
    """
    get = attrs.get
    operation = get(sc.GEN_AI_OPERATION_NAME)  # llm_operation's first source, read directly
    if operation:
        if operation in _NOT_MODEL_CALLS:
            return None
        operation = str(operation)
    else:
        operation = llm_operation(attrs)
        if operation is None:
            return None
    # The latest semconv attribute (each field's first source) usually has the value: it is
    # read directly, the other sources only when it is empty. ``x or _first(...)`` is the same
    # as ``_first(...)``, which returns a falsy first value (0) itself; this saved ~5k of ~77k
    # instructions per call (cachegrind).
    model = str(
        get(sc.GEN_AI_REQUEST_MODEL)
        or _first(attrs, _REQUEST_MODEL)
        or _first(attrs, _RESPONSE_MODEL)
        or ""
    )
    provider = str(get(sc.GEN_AI_PROVIDER_NAME) or _first(attrs, _PROVIDER) or "")
    # Token counts are ints but for odd instrumentations: _as_int only for the others.
    input_tokens = get(sc.GEN_AI_USAGE_INPUT_TOKENS) or _first(attrs, _INPUT_TOKENS)
    if type(input_tokens) is not int or not 0 <= input_tokens < _MAX_COUNT:
        input_tokens = _as_int(input_tokens)
    output_tokens = get(sc.GEN_AI_USAGE_OUTPUT_TOKENS) or _first(attrs, _OUTPUT_TOKENS)
    if type(output_tokens) is not int or not 0 <= output_tokens < _MAX_COUNT:
        output_tokens = _as_int(output_tokens)
    total = _first(attrs, _TOTAL_TOKENS)  # usually absent: no _as_int call then
    if total is not None and (type(total) is not int or not 0 <= total < _MAX_COUNT):
        total = _as_int(total)
    if total is None and (input_tokens is not None or output_tokens is not None):
        total = (input_tokens or 0) + (output_tokens or 0)
    ttft = get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)  # its only source; "" is no number
    ttft_ms = None
    if ttft is not None and isinstance(ttft, (int, float)):
        try:
            ttft_ms = float(ttft) * 1000.0
        except OverflowError:  # an int beyond floats
            ttft_ms = None
        if ttft_ms is not None and not 0.0 <= ttft_ms < _MAX_TTFT_MS:  # NaN, inf, negative
            ttft_ms = None

    inputs = _json_messages(get(sc.GEN_AI_INPUT_MESSAGES))
    if inputs is None:
        inputs = _older_input_messages(attrs, events)
    else:
        system = get(sc.GEN_AI_SYSTEM_INSTRUCTIONS)
        if system:
            inputs = [{"role": "system", "content": _text(_loads(system))}, *inputs]
    user_text = ""
    for message in reversed(inputs):  # the last user message
        if message["role"] == "user":
            user_text = message["content"]
            break
    if not user_text:
        user_text = _text(_loads(attrs.get(sc.INPUT_VALUE))) if attrs.get(sc.INPUT_VALUE) else ""
    out_text = _output_text(attrs, events)
    if not out_text and attrs.get(sc.OUTPUT_VALUE):
        out_text = _text(_loads(attrs.get(sc.OUTPUT_VALUE)))

    error = (
        _error_text(_first(attrs, _ERROR_TYPE), status_error) if status_error is not None else ""
    )
    # Positional: a keyword call to this 12-field dataclass cost twice as much (~10k
    # instructions instead of ~5k); the fields' names are in the comments, in their order.
    return LLMCall(
        operation,
        model,
        provider,
        _params(attrs, model, provider),  # params
        input_tokens,
        output_tokens,
        total,  # total_tokens
        ttft_ms,  # time_to_first_token_ms
        user_text,  # inputs
        out_text,  # outputs
        _messages_json(inputs) if inputs else "",  # prompts
        error,
    )
