"""Chat completions (non-streaming), sync and async, against the local server over real HTTP."""

from __future__ import annotations

import contextlib

import pydantic
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import openai
from spanrun.instrumentation.openai import OpenAIInstrumentor

from ._helpers import TIME_TOOL, USER, WEATHER_TOOL, attrs, fake, messages, only_span

pytestmark = pytest.mark.usefixtures("instrumented")


def test_chat_span_name_kind_and_attributes(client, exporter, openai_server):
    result = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, *USER],
        temperature=0.3,
        top_p=0.9,
        max_tokens=50,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        stop="END",
        seed=7,
    )
    span = only_span(exporter)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()
    a = attrs(span)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.request.temperature"] == 0.3
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.frequency_penalty"] == 0.1
    assert a["gen_ai.request.presence_penalty"] == 0.2
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.stream"] is False
    assert "gen_ai.request.choice.count" not in a  # n=1 is the default: not reported
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == openai_server.port
    assert a["gen_ai.response.id"] == result.id
    assert a["gen_ai.response.model"] == result.model == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert messages(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]},
    ]
    assert messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Echo: Say this is a test"}],
            "finish_reason": "stop",
        }
    ]


def test_no_secret_is_recorded(client, exporter):
    client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    dumped = repr(attrs(only_span(exporter)))
    assert "sk-test-secret" not in dumped
    assert "Bearer" not in dumped and "authorization" not in dumped.lower()


async def test_async_chat(aclient, exporter):
    result = await aclient.chat.completions.create(model="gpt-4o-mini", messages=USER)
    span = only_span(exporter)
    assert span.name == "chat gpt-4o-mini"
    assert attrs(span)["gen_ai.response.id"] == result.id
    assert attrs(span)["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert span.end_time is not None and span.end_time > span.start_time


def test_n_choices(client, exporter):
    client.chat.completions.create(model="gpt-4o-mini", messages=USER, n=3)
    span = only_span(exporter)
    assert attrs(span)["gen_ai.request.choice.count"] == 3
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("stop", "stop", "stop")
    out = messages(span, "gen_ai.output.messages")
    assert [m["parts"][0]["content"] for m in out] == [
        "Echo: Say this is a test",
        "Echo: Say this is a test (1)",
        "Echo: Say this is a test (2)",
    ]


def test_tool_definitions_and_tool_calls(client, exporter):
    result = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, tools=[WEATHER_TOOL, TIME_TOOL], **fake(tools="all")
    )
    span = only_span(exporter)
    assert messages(span, "gen_ai.tool.definitions") == [WEATHER_TOOL, TIME_TOOL]
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("tool_calls",)
    calls = result.choices[0].message.tool_calls
    assert messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": calls[0].id,
                    "name": "get_weather",
                    "arguments": {"city": "test"},
                },
                {
                    "type": "tool_call",
                    "id": calls[1].id,
                    "name": "get_time",
                    "arguments": {"zone": "test", "utc": True},
                },
            ],
            "finish_reason": "tool_calls",
        }
    ]


def test_tool_round_trip_messages(client, exporter):
    first = client.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    history = [
        *USER,
        first.choices[0].message,  # an SDK object, as users append it
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    client.chat.completions.create(model="gpt-4o-mini", messages=history, tools=[WEATHER_TOOL])
    second = exporter.get_finished_spans()[1]
    inputs = messages(second, "gen_ai.input.messages")
    assert inputs[1]["role"] == "assistant"
    assert inputs[1]["parts"] == [
        {"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": {"city": "test"}}
    ]
    assert inputs[2] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": call.id, "response": "sunny"}],
    }
    out = messages(second, "gen_ai.output.messages")
    assert out[0]["parts"] == [{"type": "text", "content": "Tool said: sunny"}]


def test_refusal(client, exporter):
    client.chat.completions.create(model="gpt-4o-mini", messages=USER, **fake(refusal=True))
    out = messages(only_span(exporter), "gen_ai.output.messages")
    assert out[0]["parts"] == [{"type": "refusal", "content": "I'm sorry, I can't help with that."}]


def test_reasoning_and_cached_tokens(client, exporter):
    client.chat.completions.create(
        model="o3-mini", messages=USER, **fake(reasoning_tokens=12, cached_tokens=4)
    )
    a = attrs(only_span(exporter))
    assert a["gen_ai.usage.reasoning.output_tokens"] == 12
    assert a["gen_ai.usage.cache_read.input_tokens"] == 4


def test_multimodal_input_parts(client, exporter):
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )
    parts = messages(only_span(exporter), "gen_ai.input.messages")[0]["parts"]
    assert parts == [
        {"type": "text", "content": "What is this?"},
        {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "AAAA"},
    ]


class Answer(pydantic.BaseModel):
    city: str
    degrees: int


def _parse_method(client):
    chat = client.chat.completions
    if hasattr(chat, "parse"):
        return chat.parse
    beta = getattr(getattr(client, "beta", None), "chat", None)
    if beta is None or not hasattr(beta.completions, "parse"):
        pytest.skip("this openai release has no chat.completions.parse")
    return beta.completions.parse


def test_parse_structured_output(client, exporter):
    parsed = _parse_method(client)(model="gpt-4o-mini", messages=USER, response_format=Answer)
    assert parsed.choices[0].message.parsed == Answer(city="test", degrees=1)
    span = only_span(exporter)  # one span, even where beta.parse calls create()
    assert span.name == "chat gpt-4o-mini"
    assert attrs(span)["gen_ai.output.type"] == "json"
    out = messages(span, "gen_ai.output.messages")
    assert out[0]["parts"][0]["content"] == '{"city": "test", "degrees": 1}'


async def test_async_parse(aclient, exporter):
    parsed = await _parse_method(aclient)(
        model="gpt-4o-mini", messages=USER, response_format=Answer
    )
    assert parsed.choices[0].message.parsed.degrees == 1
    assert only_span(exporter).name == "chat gpt-4o-mini"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_status_errors(client, exporter, status, error):
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, **fake(error=status))
    assert caught.value.status_code == status
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == error.__qualname__
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes["exception.type"].endswith(error.__qualname__)
    assert "gen_ai.response.id" not in attrs(span)


def test_model_not_found(client, exporter):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="this-model-does-not-exist", messages=USER)
    assert attrs(only_span(exporter))["error.type"] == "NotFoundError"


def test_timeout(client, exporter):
    slow = client.with_options(timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        slow.chat.completions.create(model="gpt-4o-mini", messages=USER, **fake(delay=1))
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "APITimeoutError"


def test_connection_error(exporter):
    dead = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        dead.chat.completions.create(model="gpt-4o-mini", messages=USER)
    span = only_span(exporter)
    assert attrs(span)["error.type"] == "APIConnectionError"
    assert attrs(span)["server.port"] == 9


async def test_async_error(aclient, exporter):
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=USER, **fake(error=429))
    assert attrs(only_span(exporter))["error.type"] == "RateLimitError"


def test_parent_is_the_users_span(client, exporter, provider):
    tracer = provider.get_tracer("user")
    with tracer.start_as_current_span("my workflow") as parent:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    llm, outer = exporter.get_finished_spans()
    assert outer.name == "my workflow"
    assert llm.parent is not None and llm.parent.span_id == parent.get_span_context().span_id
    assert llm.context.trace_id == parent.get_span_context().trace_id
    # and our span is not left current afterwards
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_suppress_instrumentation_key(client, exporter):
    token = otel_context.attach(
        otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    )
    try:
        result = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    finally:
        otel_context.detach(token)
    assert result.choices[0].message.content == "Echo: Say this is a test"
    assert exporter.get_finished_spans() == ()


def test_log_content_false(client, exporter, provider):
    OpenAIInstrumentor().instrument(tracer_provider=provider, log_content=False)
    client.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER_TOOL])
    a = attrs(only_span(exporter))
    assert a["gen_ai.usage.input_tokens"] > 0  # still a full span, without content
    for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.definitions"):
        assert key not in a


@pytest.mark.parametrize("value", ["false", "NO_CONTENT"])
def test_content_env_variable(client, exporter, provider, monkeypatch, value):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert "gen_ai.input.messages" not in attrs(only_span(exporter))


def test_request_is_not_altered(client, openai_server):
    openai_server.clear_requests()
    client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True).close()
    body = openai_server.requests[-1].body
    assert body == {"model": "gpt-4o-mini", "messages": USER, "stream": True}
    assert "traceparent" not in {k.lower() for k in openai_server.requests[-1].headers}


def test_azure_client(openai_server, exporter):
    azure = openai.AzureOpenAI(
        azure_endpoint=openai_server.url,
        api_key="azure-secret",
        api_version="2024-10-21",
        max_retries=0,
    )
    # The Azure client routes to /openai/deployments/<model>/chat/completions on the endpoint.
    azure.base_url = openai_server.base_url
    # The route may differ by SDK version; the span is what matters here.
    with contextlib.suppress(openai.APIError):
        azure.chat.completions.create(model="gpt-4o-mini", messages=USER)
    span = only_span(exporter)
    assert attrs(span)["gen_ai.provider.name"] == "azure.ai.openai"
    assert attrs(span)["server.address"] == "127.0.0.1"
    assert "azure-secret" not in repr(attrs(span))
