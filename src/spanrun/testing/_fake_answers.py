"""Deterministic OpenAI-shaped answers derived from the request (used by the local test server).

Pure functions from a request body to response bodies or SSE events; no I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from spanrun.testing._judge_answers import is_grading_prompt, judge_answer

__all__ = ["Directives", "parse_directives"]

CREATED = 1_731_368_630
REFUSAL_TEXT = "I'm sorry, I can't help with that."


@dataclass
class Directives:
    """Behaviour switches read from the ``x-spanrun-fake`` header (``key=value; key2``)."""

    error: int | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunks: int | None = None
    break_after: int | None = None
    error_event_after: int | None = None
    refusal: bool = False
    all_tools: bool = False
    no_tools: bool = False
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    content: str | None = None
    retry: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def parse_directives(header: str | None) -> Directives:
    """Parse ``error=429; delay=0.5; chunks=100; break_after=3; refusal; tools=all``."""
    d = Directives()
    if not header:
        return d
    for raw in header.split(";"):
        item = raw.strip()
        if not item:
            continue
        key, _, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "error":
            d.error = int(value)
        elif key == "delay":
            d.delay = float(value)
        elif key == "chunk_delay":
            d.chunk_delay = float(value)
        elif key == "chunks":
            d.chunks = int(value)
        elif key == "break_after":
            d.break_after = int(value)
        elif key == "error_event_after":
            d.error_event_after = int(value)
        elif key == "refusal":
            d.refusal = True
        elif key == "tools":
            d.all_tools = value == "all"
            d.no_tools = value == "none"
        elif key == "cached_tokens":
            d.cached_tokens = int(value)
        elif key == "reasoning_tokens":
            d.reasoning_tokens = int(value)
        elif key == "content":
            d.content = value
        elif key == "retry":
            d.retry = True
        else:
            d.extra[key] = value
    return d


# ---------------------------------------------------------------------------- helpers


def _count_tokens(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    """Text of a chat/responses message content (string or list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text")
                if text is None and isinstance(part.get("content"), str):
                    text = part["content"]
                if isinstance(text, str):
                    out.append(text)
        return " ".join(out)
    return str(content)


def _split_chunks(text: str, count: int | None) -> list[str]:
    """Split ``text`` into content deltas: by words, or into exactly ``count`` pieces."""
    if count is None:
        words = text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]
    if count <= 0:
        return []
    if len(text) < count:
        text = text + "." * (count - len(text))
    size, rest = divmod(len(text), count)
    pieces, pos = [], 0
    for i in range(count):
        n = size + (1 if i < rest else 0)
        pieces.append(text[pos : pos + n])
        pos += n
    return pieces


def _is_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null"


def _example_for_schema(schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """A value that validates against a (strict) JSON schema, for structured outputs."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _example_for_schema(defs.get(name, {}), defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [o for o in schema[key] if not (isinstance(o, dict) and _is_null(o))]
            return _example_for_schema((options or schema[key])[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _example_for_schema(v, defs, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [_example_for_schema(schema.get("items", {}), defs, depth + 1)]
    if kind == "string":
        return "test"
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return None


def _arguments_for(parameters: Any) -> str:
    if not isinstance(parameters, dict):
        return "{}"
    value = _example_for_schema(parameters, parameters.get("$defs", {}) or {})
    return json.dumps(value if isinstance(value, dict) else {})


def _tool_functions(tools: Any) -> list[tuple[str, Any]]:
    """(name, parameters) of function tools, chat (nested) or responses (flat) shape."""
    out = []
    for tool in tools or []:
        if not isinstance(tool, dict):
            continue
        nested = tool.get("function")
        fn: dict[str, Any] = nested if isinstance(nested, dict) else tool
        name = fn.get("name")
        if name:
            out.append((name, fn.get("parameters")))
    return out


def _stable_id(prefix: str, body: dict[str, Any]) -> str:
    digest = hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return f"{prefix}{digest[:24]}"


# ---------------------------------------------------------------------------- chat


def _wants_tool_call(body: dict[str, Any], messages: list[Any], d: Directives) -> bool:
    if d.no_tools or not _tool_functions(body.get("tools")):
        return False
    if body.get("tool_choice") == "none":
        return False
    last = messages[-1] if messages else {}
    # After a tool result, answer in text so agent loops terminate.
    return not (isinstance(last, dict) and last.get("role") in ("tool", "function"))


def _chat_tool_calls(body: dict[str, Any], d: Directives, choice: int) -> list[dict[str, Any]]:
    functions = _tool_functions(body.get("tools"))
    choice_name = None
    tc = body.get("tool_choice")
    if isinstance(tc, dict):
        choice_name = (tc.get("function") or {}).get("name") or tc.get("name")
    if choice_name:
        functions = [f for f in functions if f[0] == choice_name] or functions
    selected = functions if d.all_tools else functions[:1]
    return [
        {
            "id": f"call_{choice}_{i}_{name}"[:40],
            "type": "function",
            "function": {"name": name, "arguments": _arguments_for(params)},
        }
        for i, (name, params) in enumerate(selected)
    ]


def _chat_text(body: dict[str, Any], d: Directives, messages: list[Any]) -> str:
    if d.content is not None:
        return d.content
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        return json.dumps(_example_for_schema(schema, schema.get("$defs", {}) or {}))
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return json.dumps({"echo": _last_user_text(messages)})
    last = messages[-1] if messages else {}
    if isinstance(last, dict) and last.get("role") in ("tool", "function"):
        return f"Tool said: {_text_of(last.get('content'))}"
    text = _last_user_text(messages)
    if is_grading_prompt(text):
        return judge_answer(text, d.extra.get("judge"), d.extra.get("score"))
    return f"Echo: {text}"


def _last_user_text(messages: list[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return _text_of(m.get("content"))
    return ""


def _prompt_tokens(messages: list[Any]) -> int:
    dicts = [m for m in messages if isinstance(m, dict)]
    return sum(_count_tokens(_text_of(m.get("content"))) + 1 for m in dicts)


def _chat_usage(prompt: int, completion: int, d: Directives) -> dict[str, Any]:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion + d.reasoning_tokens,
        "total_tokens": prompt + completion + d.reasoning_tokens,
        "prompt_tokens_details": {"cached_tokens": d.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": d.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if "prompt_tokens" in d.extra:  # a broken usage block: 1e999 reaches the client as inf
        usage["prompt_tokens"] = float(d.extra["prompt_tokens"])
    return usage


@dataclass
class ChatPlan:
    """What a chat completion answers, before it is rendered as JSON or as chunks."""

    id: str
    model: str
    choices: list[dict[str, Any]]  # {"content", "refusal", "tool_calls", "finish_reason"}
    usage: dict[str, Any]


def plan_chat(body: dict[str, Any], d: Directives) -> ChatPlan:
    messages = body.get("messages") or []
    model = str(body.get("model") or "gpt-4o-mini")
    n = int(body.get("n") or 1)
    choices = []
    completion_tokens = 0
    for i in range(n):
        choice: dict[str, Any]
        if d.refusal:
            choice = {"content": None, "refusal": REFUSAL_TEXT, "tool_calls": None}
            choice["finish_reason"] = "stop"
            completion_tokens += _count_tokens(REFUSAL_TEXT)
        elif _wants_tool_call(body, messages, d):
            calls = _chat_tool_calls(body, d, i)
            choice = {"content": None, "refusal": None, "tool_calls": calls}
            choice["finish_reason"] = "tool_calls"
            completion_tokens += sum(_count_tokens(c["function"]["arguments"]) for c in calls)
        else:
            text = _chat_text(body, d, messages)
            if i > 0:
                text = f"{text} ({i})"
            choice = {"content": text, "refusal": None, "tool_calls": None}
            max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
            choice["finish_reason"] = "length" if max_tokens and max_tokens < 2 else "stop"
            completion_tokens += _count_tokens(text)
        choices.append(choice)
    usage = _chat_usage(_prompt_tokens(messages), completion_tokens, d)
    return ChatPlan(_stable_id("chatcmpl-", body), _model_version(model), choices, usage)


def _model_version(model: str) -> str:
    # Real APIs answer with a dated snapshot name; mimic that so response.model != request.
    return model if model[-4:].isdigit() else f"{model}-2024-07-18"


def chat_json(plan: ChatPlan) -> dict[str, Any]:
    choices = []
    for i, c in enumerate(plan.choices):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": c["content"],
            "refusal": c["refusal"],
            "annotations": [],
        }
        if c["tool_calls"]:
            message["tool_calls"] = c["tool_calls"]
        choices.append(
            {"index": i, "message": message, "logprobs": None, "finish_reason": c["finish_reason"]}
        )
    return {
        "id": plan.id,
        "object": "chat.completion",
        "created": CREATED,
        "model": plan.model,
        "choices": choices,
        "usage": plan.usage,
        "service_tier": "default",
        "system_fingerprint": "fp_spanrun",
    }


def chat_chunks(plan: ChatPlan, body: dict[str, Any], d: Directives) -> list[dict[str, Any]]:
    """The chunk sequence of a streamed chat completion (without the final ``[DONE]``)."""
    base = {
        "id": plan.id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": plan.model,
        "service_tier": "default",
        "system_fingerprint": "fp_spanrun",
    }
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = dict(base)
        out["choices"] = [
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        ]
        if include_usage:
            out["usage"] = None
        return out

    chunks = []
    for i, c in enumerate(plan.choices):
        chunks.append(chunk(i, {"role": "assistant", "content": "", "refusal": None}))
        if c["refusal"]:
            for piece in _split_chunks(c["refusal"], d.chunks):
                chunks.append(chunk(i, {"refusal": piece}))
        elif c["tool_calls"]:
            for t, call in enumerate(c["tool_calls"]):
                head = {"index": t, "id": call["id"], "type": "function"}
                head["function"] = {"name": call["function"]["name"], "arguments": ""}
                chunks.append(chunk(i, {"tool_calls": [head]}))
                args = call["function"]["arguments"]
                for piece in _split_chunks(args, None if d.chunks is None else max(1, d.chunks)):
                    frag = {"index": t, "function": {"arguments": piece}}
                    chunks.append(chunk(i, {"tool_calls": [frag]}))
        else:
            for piece in _split_chunks(c["content"] or "", d.chunks):
                chunks.append(chunk(i, {"content": piece}))
        chunks.append(chunk(i, {}, c["finish_reason"]))
    if include_usage:
        last = dict(base)
        last["choices"] = []
        last["usage"] = plan.usage
        chunks.append(last)
    return chunks


# ---------------------------------------------------------------------------- completions


def completion_json(body: dict[str, Any], d: Directives) -> dict[str, Any]:
    prompts = body.get("prompt")
    if not (isinstance(prompts, list) and prompts and isinstance(prompts[0], str)):
        prompts = [prompts]
    n = int(body.get("n") or 1)
    choices, completion = [], 0
    for p_index, prompt in enumerate(prompts):
        for i in range(n):
            text = d.content if d.content is not None else f" Echo: {_text_of(prompt)}"
            completion += _count_tokens(text)
            choices.append(
                {"text": text, "index": p_index * n + i, "logprobs": None, "finish_reason": "stop"}
            )
    prompt_tokens = sum(_count_tokens(_text_of(p)) for p in prompts)
    return {
        "id": _stable_id("cmpl-", body),
        "object": "text_completion",
        "created": CREATED,
        "model": str(body.get("model") or "gpt-3.5-turbo-instruct"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
        "system_fingerprint": None,
    }


def completion_chunks(body: dict[str, Any], d: Directives) -> list[dict[str, Any]]:
    full = completion_json(body, d)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    out = []
    for c in full["choices"]:
        pieces = _split_chunks(c["text"], d.chunks)
        for k, piece in enumerate(pieces):
            finish = c["finish_reason"] if k == len(pieces) - 1 else None
            choice = {"text": piece, "index": c["index"], "logprobs": None, "finish_reason": finish}
            item = {key: full[key] for key in ("id", "object", "created", "model")}
            item["choices"] = [choice]
            out.append(item)
    if include_usage:
        item = {key: full[key] for key in ("id", "object", "created", "model")}
        item["choices"] = []
        item["usage"] = full["usage"]
        out.append(item)
    return out


# ---------------------------------------------------------------------------- embeddings


def _vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % 32] - 128) / 128.0, 6) for i in range(dims)]


def embeddings_json(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    token_list = isinstance(inputs, list) and bool(inputs) and isinstance(inputs[0], int)
    if isinstance(inputs, str) or token_list:
        inputs = [inputs]
    dims = int(body.get("dimensions") or 8)
    b64 = body.get("encoding_format") == "base64"
    data, tokens = [], 0
    for i, item in enumerate(inputs or []):
        text = item if isinstance(item, str) else " ".join(str(t) for t in item)
        tokens += _count_tokens(text) if isinstance(item, str) else len(item)
        vec = _vector(text, dims)
        emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if b64 else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model") or "text-embedding-3-small"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ---------------------------------------------------------------------------- responses


def _responses_input_text(body: dict[str, Any]) -> tuple[str, int, bool]:
    """(last user text, prompt tokens, last item was a tool output)."""
    inp = body.get("input")
    if isinstance(inp, str):
        return inp, _count_tokens(inp) + 1, False
    text, tokens, after_tool = "", 0, False
    for item in inp or []:
        if not isinstance(item, dict):
            continue
        after_tool = item.get("type") == "function_call_output"
        if after_tool:
            text = f"Tool said: {item.get('output')}"
            continue
        content = _text_of(item.get("content"))
        tokens += _count_tokens(content) + 1
        if item.get("role") == "user":
            text = content
    return text, tokens, after_tool


def responses_json(body: dict[str, Any], d: Directives) -> dict[str, Any]:
    model = _model_version(str(body.get("model") or "gpt-4o-mini"))
    rid = _stable_id("resp_", body)
    text, prompt_tokens, after_tool = _responses_input_text(body)
    prompt_tokens += _count_tokens(str(body.get("instructions") or ""))
    output: list[dict[str, Any]] = []
    functions = _tool_functions(body.get("tools"))
    if functions and not after_tool and not d.no_tools and body.get("tool_choice") != "none":
        selected = functions if d.all_tools else functions[:1]
        for i, (name, params) in enumerate(selected):
            output.append(
                {
                    "id": f"fc_{rid[5:20]}_{i}",
                    "type": "function_call",
                    "status": "completed",
                    "arguments": _arguments_for(params),
                    "call_id": f"call_{i}_{name}"[:40],
                    "name": name,
                }
            )
        completion = sum(_count_tokens(o["arguments"]) for o in output)
    else:
        part: dict[str, Any]
        if d.refusal:
            part = {"type": "refusal", "refusal": REFUSAL_TEXT}
            completion = _count_tokens(REFUSAL_TEXT)
        else:
            fmt = (body.get("text") or {}).get("format") or {}
            if d.content is not None:
                answer = d.content
            elif fmt.get("type") == "json_schema":
                schema = fmt.get("schema") or {}
                answer = json.dumps(_example_for_schema(schema, schema.get("$defs", {}) or {}))
            elif after_tool:
                answer = text
            else:
                answer = f"Echo: {text}"
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": answer}
            completion = _count_tokens(answer)
        output.append(
            {
                "id": f"msg_{rid[5:29]}",
                "type": "message",
                "status": "completed",
                "content": [part],
                "role": "assistant",
            }
        )
    completion += d.reasoning_tokens
    return {
        "id": rid,
        "object": "response",
        "created_at": CREATED,
        "status": "completed",
        "background": False,
        "billing": {"payer": "developer"},
        "completed_at": CREATED + 1,
        "error": None,
        "frequency_penalty": 0.0,
        "presence_penalty": 0.0,
        "max_tool_calls": None,
        "prompt_cache_key": None,
        "prompt_cache_retention": "in_memory",
        "safety_identifier": None,
        "top_logprobs": 0,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium", **(body.get("text") or {})},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"cached_tokens": d.cached_tokens},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": d.reasoning_tokens},
            "total_tokens": prompt_tokens + completion,
        },
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def responses_events(body: dict[str, Any], d: Directives) -> list[dict[str, Any]]:
    """The SSE events of a streamed Responses API call, in the API's order."""
    final = responses_json(body, d)
    pending = dict(final, status="in_progress", output=[], usage=None)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": pending},
        {"type": "response.in_progress", "response": pending},
    ]
    for index, item in enumerate(final["output"]):
        if item["type"] == "function_call":
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": dict(item, status="in_progress", arguments=""),
                }
            )
            for piece in _split_chunks(item["arguments"], d.chunks):
                events.append(
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item["id"],
                        "output_index": index,
                        "delta": piece,
                    }
                )
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item["id"],
                    "output_index": index,
                    "arguments": item["arguments"],
                }
            )
        else:
            part = item["content"][0]
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": dict(item, status="in_progress", content=[]),
                }
            )
            empty = dict(part, text="") if part["type"] == "output_text" else dict(part, refusal="")
            events.append(
                {
                    "type": "response.content_part.added",
                    "item_id": item["id"],
                    "output_index": index,
                    "content_index": 0,
                    "part": empty,
                }
            )
            kind = "output_text" if part["type"] == "output_text" else "refusal"
            full_text = part.get("text") if kind == "output_text" else part.get("refusal")
            for piece in _split_chunks(full_text or "", d.chunks):
                delta = {
                    "type": f"response.{kind}.delta",
                    "item_id": item["id"],
                    "output_index": index,
                    "content_index": 0,
                    "delta": piece,
                }
                if kind == "output_text":
                    delta["logprobs"] = []
                events.append(delta)
            done = {
                "type": f"response.{kind}.done",
                "item_id": item["id"],
                "output_index": index,
                "content_index": 0,
            }
            if kind == "output_text":
                done.update(text=full_text, logprobs=[])
            else:
                done["refusal"] = full_text
            events.append(done)
            events.append(
                {
                    "type": "response.content_part.done",
                    "item_id": item["id"],
                    "output_index": index,
                    "content_index": 0,
                    "part": part,
                }
            )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": final})
    for seq, event in enumerate(events):
        event["sequence_number"] = seq
    return events


# ---------------------------------------------------------------------------- errors

ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_value", "Invalid request (spanrun fake)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "forbidden", "You are not allowed to do that."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached (spanrun fake)."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded."),
}


def error_json(status: int, model: str | None = None) -> dict[str, Any]:
    kind, code, message = ERROR_TYPES.get(status, ("server_error", None, "Fake error."))
    if status == 404 and model:
        message = f"The model `{model}` does not exist or you do not have access to it."
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def model_json(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": "spanrun"}


def models_json() -> dict[str, Any]:
    names = ["gpt-4o-mini", "gpt-4o", "gpt-4", "text-embedding-3-small", "gpt-3.5-turbo-instruct"]
    return {
        "object": "list",
        "data": [model_json(n) for n in names],
    }
