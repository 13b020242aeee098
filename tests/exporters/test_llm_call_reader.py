"""Attribute mapping for spans from other GenAI instrumentations (pure functions)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from spanrun.exporters._llm_call_reader import llm_operation, read_llm_call


def test_latest_semconv():
    call = read_llm_call(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.stop_sequences": ("\n", "END"),
            "gen_ai.usage.input_tokens": 7,
            "gen_ai.usage.output_tokens": 3,
            "gen_ai.response.time_to_first_chunk": 0.25,
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "user", "parts": [{"type": "text", "content": "first"}]},
                    {"role": "assistant", "parts": [{"type": "text", "content": "ok"}]},
                    {"role": "user", "parts": [{"type": "text", "content": "second"}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "answer"}]}]
            ),
        }
    )
    assert call is not None
    assert (call.operation, call.model, call.provider) == ("chat", "gpt-4o-mini", "openai")
    assert (call.input_tokens, call.output_tokens, call.total_tokens) == (7, 3, 10)
    assert call.time_to_first_token_ms == 250.0
    assert call.inputs == "second"  # the last user message
    assert call.outputs == "answer"
    assert [m["role"] for m in json.loads(call.prompts)] == ["user", "assistant", "user"]
    assert call.params == {
        "llm.model": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.temperature": "0.2",
        "llm.stop_sequences": '["\\n", "END"]',
    }
    assert call.error == ""


def test_older_semconv_with_prompt_events():
    events = [
        SimpleNamespace(
            name="gen_ai.content.prompt",
            attributes={"gen_ai.prompt": json.dumps([{"role": "user", "content": "hey"}])},
        ),
        SimpleNamespace(
            name="gen_ai.content.completion",
            attributes={"gen_ai.completion": json.dumps([{"role": "assistant", "content": "yo"}])},
        ),
    ]
    call = read_llm_call(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 4,
            "gen_ai.usage.completion_tokens": 2,
        },
        events,
    )
    assert call is not None
    assert (call.provider, call.input_tokens, call.output_tokens) == ("openai", 4, 2)
    assert (call.inputs, call.outputs) == ("hey", "yo")


def test_openllmetry():
    attrs = {
        "llm.request.type": "chat",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "hello",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "hi there",
        "gen_ai.usage.prompt_tokens": 9,
        "gen_ai.usage.completion_tokens": 3,
        "llm.usage.total_tokens": 12,
        "gen_ai.request.temperature": 0.7,
    }
    call = read_llm_call(attrs)
    assert call is not None
    assert call.operation == "chat"
    assert call.model == "gpt-4o-mini"
    assert (call.input_tokens, call.output_tokens, call.total_tokens) == (9, 3, 12)
    assert (call.inputs, call.outputs) == ("hello", "hi there")
    assert json.loads(call.prompts)[0] == {"role": "system", "content": "Be brief."}
    assert call.params["llm.temperature"] == "0.7"
    assert llm_operation({"llm.request.type": "embedding"}) == "embeddings"


def test_openinference():
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.token_count.prompt": 11,
        "llm.token_count.completion": 4,
        "llm.token_count.total": 15,
        "llm.invocation_parameters": json.dumps({"temperature": 0.1, "max_tokens": 64, "n": 2}),
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "what?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "that.",
        "input.value": '{"messages": []}',
        "output.value": "{}",
    }
    call = read_llm_call(attrs)
    assert call is not None
    assert call.operation == "chat"
    assert (call.model, call.provider) == ("gpt-4o-mini", "openai")
    assert (call.input_tokens, call.output_tokens, call.total_tokens) == (11, 4, 15)
    assert (call.inputs, call.outputs) == ("what?", "that.")
    assert call.params["llm.temperature"] == "0.1"
    assert call.params["llm.max_tokens"] == "64"
    assert call.params["llm.choice_count"] == "2"
    assert llm_operation({"openinference.span.kind": "CHAIN"}) is None
    assert llm_operation({"openinference.span.kind": "EMBEDDING"}) == "embeddings"


def test_openinference_falls_back_to_input_and_output_values():
    call = read_llm_call(
        {"openinference.span.kind": "LLM", "input.value": "raw question", "output.value": "x"}
    )
    assert call is not None
    assert (call.inputs, call.outputs) == ("raw question", "x")


def test_non_llm_spans_and_errors():
    assert read_llm_call({"input.value": "{}", "http.method": "GET"}) is None
    failed = read_llm_call(
        {"gen_ai.operation.name": "chat", "error.type": "APITimeoutError"}, (), "timed out"
    )
    assert failed is not None and failed.error == "APITimeoutError: timed out"
    bare = read_llm_call({"gen_ai.operation.name": "chat"}, (), "")
    assert bare is not None and bare.error == "error"
    assert bare.total_tokens is None and bare.params == {}


def test_the_error_column_names_the_type_once():
    def error(error_type: str | None, description: str) -> str:
        attrs = {"gen_ai.operation.name": "chat"}
        if error_type is not None:
            attrs["error.type"] = error_type
        call = read_llm_call(attrs, (), description)
        assert call is not None
        return call.error

    # GenAI instrumentations: description = the message.
    assert error("ValueError", "boom") == "ValueError: boom"
    # The OTel SDK's start_as_current_span: description = "<Type>: <message>".
    assert error("ValueError", "ValueError: boom") == "ValueError: boom"
    assert error("openai.NotFoundError", "NotFoundError: gone") == "openai.NotFoundError: gone"
    assert error("ValueError", "") == "ValueError"
    assert error("ValueError", "ValueError") == "ValueError"
    assert error(None, "boom") == "boom"
    assert error("_OTHER", "x: y") == "_OTHER: x: y"


def test_malformed_content_never_raises():
    call = read_llm_call(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": "{not json",
            "gen_ai.output.messages": json.dumps({"unexpected": "shape"}),
            "gen_ai.usage.input_tokens": "many",
        }
    )
    assert call is not None
    assert call.inputs == "{not json"
    assert call.input_tokens is None


def test_first_source_read_directly_keeps_the_fallback_rules():
    from spanrun.exporters._llm_call_reader import FIELD_SOURCES

    # read_llm_call reads these first sources directly before the others
    assert [FIELD_SOURCES[f][0] for f in ("request_model", "provider")] == [
        "gen_ai.request.model",
        "gen_ai.provider.name",
    ]
    assert FIELD_SOURCES["ttft_s"] == ("gen_ai.response.time_to_first_chunk",)
    call = read_llm_call(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "",  # empty: the next source counts
            "gen_ai.response.model": "gpt-4o-2024",
            "gen_ai.provider.name": None,
            "gen_ai.system": "openai",
            "gen_ai.usage.input_tokens": 0,  # a falsy value is still the value
            "gen_ai.usage.prompt_tokens": 99,
            "gen_ai.usage.output_tokens": "",
            "gen_ai.usage.completion_tokens": 4,
            "gen_ai.response.time_to_first_chunk": "",
        }
    )
    assert call is not None
    assert (call.model, call.provider) == ("gpt-4o-2024", "openai")
    assert (call.input_tokens, call.output_tokens, call.total_tokens) == (0, 4, 4)
    assert call.time_to_first_token_ms is None
