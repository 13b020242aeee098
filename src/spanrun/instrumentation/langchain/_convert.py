"""Pure conversions from LangChain callback arguments to span attribute values.

Nothing here touches spans; every function takes LangChain objects and returns plain values so
the handler stays a thin translation layer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, Generation, LLMResult
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

from spanrun.core import semconv as sc

__all__ = [
    "document_dicts",
    "input_messages",
    "model_name",
    "output_messages",
    "prompt_messages",
    "provider_name",
    "request_attributes",
    "response_attributes",
    "template_text",
    "to_json",
    "value_attributes",
]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_ROLES.update({"function": "tool", "developer": "system", "remove": "system"})
_ROLES.update(
    {
        "AIMessageChunk": "assistant",
        "HumanMessageChunk": "user",
        "SystemMessageChunk": "system",
        "ToolMessageChunk": "tool",
        "FunctionMessageChunk": "tool",
    }
)

# langchain's ``ls_provider`` values -> gen_ai.provider.name (semconv well-known values).
_PROVIDERS = {
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai",
    "google_anthropic_vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
    "ibm": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
}

_PARAMS: dict[str, str] = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_tokens_to_sample": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_new_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "top_k": "gen_ai.request.top_k",
}
_MODEL_KEYS = ("model", "model_name", "model_id", "deployment_name")
_SYNTHETIC_ID_PREFIXES = ("lc_run-", "run-")  # ids langchain invents when a provider gives none


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseMessage):
        return _message_dict(obj)
    if isinstance(obj, Document):
        return _document_dict(obj)
    if isinstance(obj, PromptValue):
        return [_message_dict(m) for m in obj.to_messages()]
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    return repr(obj)


# One encoder for every call: json.dumps() with options builds a new encoder each time.
_ENCODER = json.JSONEncoder(default=_jsonable, ensure_ascii=False)


def to_json(value: Any) -> str:
    """JSON for any LangChain value; never raises (falls back to ``repr``)."""
    try:
        return _ENCODER.encode(value)
    except Exception:
        return _ENCODER.encode(repr(value))


def value_attributes(key: str, value: Any) -> dict[str, str]:
    """``input.value``/``output.value`` and their mime type: strings raw, the rest as JSON."""
    if isinstance(value, str):
        return {key: value}
    return {key: to_json(value), key.replace(".value", ".mime_type"): "application/json"}


def _role(message: BaseMessage) -> str:
    if message.type in ("chat", "ChatMessageChunk"):
        return str(getattr(message, "role", "user"))
    return _ROLES.get(message.type, message.type)


def _message_dict(message: BaseMessage) -> dict[str, Any]:
    data: dict[str, Any] = {"role": _role(message), "content": message.content}
    if isinstance(message, AIMessage) and message.tool_calls:
        data["tool_calls"] = message.tool_calls
    if isinstance(message, ToolMessage):
        data["tool_call_id"] = message.tool_call_id
    return data


def _document_dict(doc: Document) -> dict[str, Any]:
    data: dict[str, Any] = {"page_content": doc.page_content, "metadata": doc.metadata}
    if doc.id is not None:
        data["id"] = doc.id
    return data


def document_dicts(documents: Sequence[Document]) -> list[dict[str, Any]]:
    return [_document_dict(d) if isinstance(d, Document) else _jsonable(d) for d in documents]


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    for block in content or ():
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
        elif isinstance(block, Mapping) and block.get("type") in ("tool_use", "tool_call"):
            continue  # also present as message.tool_calls, added below
        else:
            kind = block.get("type", "unknown") if isinstance(block, Mapping) else "unknown"
            parts.append({"type": str(kind), "content": block})
    return parts


def _semconv_message(message: BaseMessage) -> dict[str, Any]:
    role = _role(message)
    parts: list[dict[str, Any]]
    if isinstance(message, ToolMessage):
        parts = [
            {"type": "tool_call_response", "id": message.tool_call_id, "response": message.content}
        ]
    else:
        parts = _content_parts(message.content)
    if isinstance(message, AIMessage):
        for call in message.tool_calls:
            part: dict[str, Any] = {
                "type": "tool_call",
                "id": call.get("id"),
                "name": call["name"],
            }
            part["arguments"] = call["args"]
            parts.append(part)
    data: dict[str, Any] = {"role": role, "parts": parts}
    if message.name:
        data["name"] = message.name
    return data


def input_messages(messages: Sequence[BaseMessage]) -> str:
    """``gen_ai.input.messages`` JSON for a chat model's messages."""
    return to_json([_semconv_message(m) for m in messages])


def prompt_messages(prompts: Sequence[str]) -> str:
    """``gen_ai.input.messages`` JSON for a completion model's prompts."""
    return to_json([{"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts])


def provider_name(metadata: Mapping[str, Any] | None, params: Mapping[str, Any]) -> str | None:
    provider = (metadata or {}).get("ls_provider") or params.get("_type")
    if not isinstance(provider, str):
        return None
    return _PROVIDERS.get(provider, provider)


def model_name(metadata: Mapping[str, Any] | None, params: Mapping[str, Any]) -> str | None:
    model = (metadata or {}).get("ls_model_name")
    if isinstance(model, str) and model:
        return model
    for key in _MODEL_KEYS:
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def request_attributes(
    params: Mapping[str, Any], metadata: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``gen_ai.request.*`` from invocation params (falling back to langchain's ``ls_*``)."""
    attrs: dict[str, Any] = {}
    for key, attr in _PARAMS.items():
        value = params.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs.setdefault(attr, value)
    meta = metadata or {}
    for key, attr in (
        ("ls_temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
        ("ls_max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ):
        value = meta.get(key)
        if attr not in attrs and isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[attr] = value
    stop = params.get("stop") or meta.get("ls_stop")
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
    n = params.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
    if isinstance(params.get("stream"), bool):
        attrs[sc.GEN_AI_REQUEST_STREAM] = params["stream"]
    return attrs


def _generations(response: LLMResult) -> list[Generation]:
    return [g for generations in response.generations for g in generations]


def _finish_reason(generation: Generation) -> str | None:
    info = generation.generation_info or {}
    reason = info.get("finish_reason") or info.get("stop_reason")
    if reason is None and isinstance(generation, ChatGeneration):
        meta = generation.message.response_metadata or {}
        reason = meta.get("finish_reason") or meta.get("stop_reason")
    return str(reason) if reason else None


def output_messages(response: LLMResult) -> str:
    """``gen_ai.output.messages`` JSON for an LLM result."""
    out = []
    for generation in _generations(response):
        if isinstance(generation, ChatGeneration):
            message = _semconv_message(generation.message)
            message["role"] = "assistant"
        else:
            message = {"role": "assistant", "parts": [{"type": "text", "content": generation.text}]}
        reason = _finish_reason(generation)
        if reason:
            message["finish_reason"] = reason
        out.append(message)
    return to_json(out)


def _usage(response: LLMResult) -> dict[str, int]:
    # Prefer the standard usage_metadata on messages; fall back to the provider's llm_output.
    totals: dict[str, int] = {}
    for generation in _generations(response):
        message = getattr(generation, "message", None)
        usage = getattr(message, "usage_metadata", None)
        if not usage:
            continue
        input_details = usage.get("input_token_details") or {}
        output_details = usage.get("output_token_details") or {}
        pairs = [
            (sc.GEN_AI_USAGE_INPUT_TOKENS, usage.get("input_tokens")),
            (sc.GEN_AI_USAGE_OUTPUT_TOKENS, usage.get("output_tokens")),
            (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, input_details.get("cache_read")),
            (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, output_details.get("reasoning")),
        ]
        for attr, value in pairs:
            if isinstance(value, int):
                totals[attr] = totals.get(attr, 0) + value
    if totals:
        return totals
    llm_output = response.llm_output or {}
    usage = llm_output.get("token_usage") or llm_output.get("usage") or {}
    if not isinstance(usage, Mapping):
        return totals
    inputs = usage.get("prompt_tokens", usage.get("input_tokens"))
    outputs = usage.get("completion_tokens", usage.get("output_tokens"))
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    for attr, value in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, inputs),
        (sc.GEN_AI_USAGE_OUTPUT_TOKENS, outputs),
        (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, cached),
        (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, reasoning),
    ):
        if isinstance(value, int) and not isinstance(value, bool):
            totals[attr] = value
    return totals


def response_attributes(response: LLMResult) -> dict[str, Any]:
    """Usage, finish reasons, response model and id (no content)."""
    attrs: dict[str, Any] = dict(_usage(response))
    generations = _generations(response)
    reasons = [r for r in map(_finish_reason, generations) if r]
    if reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    llm_output = response.llm_output or {}
    model = llm_output.get("model_name") or llm_output.get("model")
    response_id = None
    for generation in generations:
        if not isinstance(generation, ChatGeneration):
            continue
        meta = generation.message.response_metadata or {}
        model = meta.get("model_name") or meta.get("model") or model
        candidate = meta.get("id") or generation.message.id
        if isinstance(candidate, str) and not candidate.startswith(_SYNTHETIC_ID_PREFIXES):
            response_id = candidate
        break
    if isinstance(model, str) and model:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = model
    if response_id:
        attrs[sc.GEN_AI_RESPONSE_ID] = response_id
    return attrs


def template_text(serialized: Mapping[str, Any] | None) -> str | None:
    """The template of a serialized PromptTemplate, or the message templates of a chat one."""
    kwargs = (serialized or {}).get("kwargs")
    if not isinstance(kwargs, Mapping):
        return None
    template = kwargs.get("template")
    if isinstance(template, str):
        return template
    messages = kwargs.get("messages")
    if not isinstance(messages, list):
        return None
    out = []
    for entry in messages:
        entry_kwargs = entry.get("kwargs", {}) if isinstance(entry, Mapping) else {}
        prompt = entry_kwargs.get("prompt", {})
        prompt_kwargs = prompt.get("kwargs", {}) if isinstance(prompt, Mapping) else {}
        kind = (entry.get("id") or ["message"])[-1] if isinstance(entry, Mapping) else "message"
        if "template" in prompt_kwargs:
            out.append({"type": kind, "template": prompt_kwargs["template"]})
        elif "variable_name" in entry_kwargs:
            out.append({"type": kind, "variable_name": entry_kwargs["variable_name"]})
        else:
            out.append({"type": kind})
    return to_json(out)
