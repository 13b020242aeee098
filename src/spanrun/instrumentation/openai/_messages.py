"""OpenAI request/response content -> GenAI semconv message JSON (pure functions).

Shapes (OTel GenAI semantic conventions, ``gen_ai.input.messages`` / ``gen_ai.output.messages``):
``[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]``; tool calls are
``{"type": "tool_call", "id", "name", "arguments"}``; tool results are
``{"type": "tool_call_response", "id", "response"}``; output messages add ``finish_reason``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "chat_input_messages",
    "chat_output_messages",
    "completion_input_messages",
    "dumps",
    "response_output_messages",
    "responses_input_messages",
    "text_parts",
    "tool_definitions",
]


# One encoder for every call (json.dumps with options builds a new one each time); ASCII
# output is the encoder's fast path, and \u escapes are still the same JSON text.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def _as_dict(obj: Any) -> dict[str, Any] | None:
    """Request items are usually dicts; SDK models (a previous response's message) are dumped."""
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        dumped: dict[str, Any] = dump(exclude_none=True)
        return dumped
    return None


def _arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they are valid JSON, else the raw string."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _content_part(part: Any) -> dict[str, Any]:
    p = _as_dict(part)
    if p is None:
        return {"type": "text", "content": str(part)}
    kind = p.get("type")
    if kind in ("text", "input_text", "output_text"):
        return {"type": "text", "content": p.get("text", "")}
    if kind in ("image_url", "input_image"):
        image = p.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url.startswith("data:"):
            mime, _, data = url[5:].partition(";base64,")
            return {"type": "blob", "modality": "image", "mime_type": mime, "content": data}
        return {"type": "uri", "modality": "image", "uri": url}
    if kind == "input_audio":
        audio = p.get("input_audio") or {}
        return {
            "type": "blob",
            "modality": "audio",
            "mime_type": f"audio/{audio.get('format', 'wav')}",
            "content": audio.get("data"),
        }
    if kind == "refusal":
        return {"type": "refusal", "content": p.get("refusal")}
    return {"type": kind or "unknown", **{k: v for k, v in p.items() if k != "type"}}


def text_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        return [_content_part(p) for p in content]
    return [{"type": "text", "content": str(content)}]


def _tool_call_part(call: Any) -> dict[str, Any]:
    c = _as_dict(call) or {}
    fn = c.get("function") or {}
    return {
        "type": "tool_call",
        "id": c.get("id"),
        "name": fn.get("name"),
        "arguments": _arguments(fn.get("arguments")),
    }


def chat_input_messages(messages: Any) -> list[dict[str, Any]]:
    out = []
    for raw in messages or ():
        m = _as_dict(raw)
        if m is None:
            continue
        role = m.get("role")
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": m.get("tool_call_id"),
                    "response": _tool_response(m.get("content")),
                }
            ]
        else:
            parts = text_parts(m.get("content"))
            for call in m.get("tool_calls") or ():
                parts.append(_tool_call_part(call))
            legacy = m.get("function_call")
            if legacy:
                parts.append(_tool_call_part({"function": legacy}))
        message: dict[str, Any] = {"role": role, "parts": parts}
        if m.get("name"):
            message["name"] = m["name"]
        out.append(message)
    return out


def _tool_response(content: Any) -> Any:
    if isinstance(content, list):
        return " ".join(p.get("content", "") for p in text_parts(content) if "content" in p)
    return content


def chat_output_messages(choices: Any) -> list[dict[str, Any]]:
    out = []
    for choice in choices or ():
        message = choice.message
        parts = text_parts(message.content)
        refusal = getattr(message, "refusal", None)
        if refusal:
            parts.append({"type": "refusal", "content": refusal})
        for call in getattr(message, "tool_calls", None) or ():
            fn = getattr(call, "function", None)
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.id,
                    "name": getattr(fn, "name", None),
                    "arguments": _arguments(getattr(fn, "arguments", None)),
                }
            )
        out.append(
            {
                "role": message.role or "assistant",
                "parts": parts,
                "finish_reason": choice.finish_reason,
            }
        )
    return out


def completion_input_messages(prompt: Any) -> list[dict[str, Any]]:
    prompts = (
        prompt if isinstance(prompt, list) and prompt and isinstance(prompt[0], str) else [prompt]
    )
    return [
        {"role": "user", "parts": text_parts(p if isinstance(p, str) else str(p))} for p in prompts
    ]


def tool_definitions(tools: Any) -> list[Any]:
    return [_as_dict(t) or str(t) for t in tools or ()]


def responses_input_messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    out: list[dict[str, Any]] = []
    for raw in value or ():
        item = _as_dict(raw)
        if item is None:
            continue
        kind = item.get("type")
        if kind == "function_call":
            part = {
                "type": "tool_call",
                "id": item.get("call_id"),
                "name": item.get("name"),
                "arguments": _arguments(item.get("arguments")),
            }
            out.append({"role": "assistant", "parts": [part]})
        elif kind == "function_call_output":
            part = {
                "type": "tool_call_response",
                "id": item.get("call_id"),
                "response": item.get("output"),
            }
            out.append({"role": "tool", "parts": [part]})
        elif "role" in item:
            out.append({"role": item["role"], "parts": text_parts(item.get("content"))})
        else:
            out.append({"role": "user", "parts": [_content_part(item)]})
    return out


def responses_finish_reason(response: Any) -> str | None:
    status = getattr(response, "status", None)
    if status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        reason = getattr(details, "reason", None)
        return "length" if reason == "max_output_tokens" else (reason or "incomplete")
    if status == "completed":
        for item in getattr(response, "output", None) or ():
            if getattr(item, "type", None) == "function_call":
                return "tool_calls"
        return "stop"
    return status


def response_output_messages(response: Any, finish_reason: str | None) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in getattr(response, "output", None) or ():
        kind = getattr(item, "type", None)
        if kind == "message":
            for c in item.content or ():
                ctype = getattr(c, "type", None)
                if ctype == "output_text":
                    parts.append({"type": "text", "content": c.text})
                elif ctype == "refusal":
                    parts.append({"type": "refusal", "content": c.refusal})
        elif kind == "function_call":
            parts.append(
                {
                    "type": "tool_call",
                    "id": item.call_id,
                    "name": item.name,
                    "arguments": _arguments(item.arguments),
                }
            )
        elif kind == "reasoning":
            summary = " ".join(getattr(s, "text", "") for s in getattr(item, "summary", None) or ())
            if summary:
                parts.append({"type": "reasoning", "content": summary})
        elif kind is not None:
            parts.append({"type": kind, "id": getattr(item, "id", None)})
    return [{"role": "assistant", "parts": parts, "finish_reason": finish_reason}]
