"""Legacy completions, embeddings and the Responses API."""

from __future__ import annotations

import json

import pydantic
import pytest
from opentelemetry.trace import StatusCode

import openai

from ._helpers import WEATHER_TOOL, attrs, fake, messages, only_span

pytestmark = pytest.mark.usefixtures("instrumented")


def test_text_completion(client, exporter):
    result = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=20, temperature=0
    )
    span = only_span(exporter)
    a = attrs(span)
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    assert a["gen_ai.operation.name"] == "text_completion"
    assert a["gen_ai.request.max_tokens"] == 20
    assert a["gen_ai.request.temperature"] == 0
    assert a["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert messages(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}
    ]
    assert messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": " Echo: Say hi"}],
            "finish_reason": "stop",
        }
    ]


def test_text_completion_stream(client, exporter):
    stream = client.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt="Say hi",
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].text for c in stream if c.choices)
    span = only_span(exporter)
    assert messages(span, "gen_ai.output.messages")[0]["parts"][0]["content"] == text
    assert attrs(span)["gen_ai.usage.input_tokens"] == 2


async def test_async_text_completion(aclient, exporter):
    await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt="x")
    assert only_span(exporter).name == "text_completion gpt-3.5-turbo-instruct"


@pytest.mark.parametrize("encoding", [None, "float", "base64"])
def test_embeddings(client, exporter, encoding):
    kwargs = {} if encoding is None else {"encoding_format": encoding}
    result = client.embeddings.create(
        model="text-embedding-3-small", input=["one two", "three"], dimensions=4, **kwargs
    )
    assert len(result.data) == 2
    span = only_span(exporter)
    a = attrs(span)
    assert span.name == "embeddings text-embedding-3-small"
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.usage.input_tokens"] == 3
    assert a["gen_ai.response.model"] == "text-embedding-3-small"
    assert a["gen_ai.embeddings.dimension.count"] == 4
    if encoding is None:
        assert "gen_ai.request.encoding_formats" not in a
    else:
        assert a["gen_ai.request.encoding_formats"] == (encoding,)
    # The text embedded (issue 14: the prediction row's input holds it).
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": '["one two","three"]'}]}
    ]
    assert "gen_ai.request.stream" not in a


def test_embeddings_dimension_count_from_the_answer(client, exporter):
    result = client.embeddings.create(model="text-embedding-3-small", input="one")
    a = attrs(only_span(exporter))
    assert a["gen_ai.embeddings.dimension.count"] == len(result.data[0].embedding) > 0
    assert json.loads(a["gen_ai.input.messages"])[0]["parts"][0]["content"] == "one"


async def test_async_embeddings_error(aclient, exporter):
    with pytest.raises(openai.NotFoundError):
        await aclient.embeddings.create(model="model-does-not-exist", input="x")
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "NotFoundError"


def _responses(client):
    if not hasattr(client, "responses"):
        pytest.skip("this openai release has no Responses API")
    return client.responses


def test_responses_create(client, exporter):
    result = _responses(client).create(
        model="gpt-4o-mini",
        input="Say this is a test",
        instructions="You are a helpful assistant.",
        max_output_tokens=100,
        temperature=0.5,
        **fake(cached_tokens=3, reasoning_tokens=2),
    )
    span = only_span(exporter)
    a = attrs(span)
    assert span.name == "chat gpt-4o-mini"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.max_tokens"] == 100
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.response.id"] == result.id
    assert a["gen_ai.response.model"] == result.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    assert a["gen_ai.usage.output_tokens"] == result.usage.output_tokens
    assert a["gen_ai.usage.cache_read.input_tokens"] == 3
    assert a["gen_ai.usage.reasoning.output_tokens"] == 2
    assert messages(span, "gen_ai.system_instructions") == [
        {"type": "text", "content": "You are a helpful assistant."}
    ]
    assert messages(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": result.output_text}],
            "finish_reason": "stop",
        }
    ]


def test_responses_tool_call(client, exporter):
    tool = {"type": "function", **WEATHER_TOOL["function"]}
    result = _responses(client).create(model="gpt-4o-mini", input="Weather?", tools=[tool])
    span = only_span(exporter)
    assert messages(span, "gen_ai.tool.definitions") == [tool]
    out = messages(span, "gen_ai.output.messages")[0]
    assert out["finish_reason"] == "tool_calls"
    assert out["parts"] == [
        {
            "type": "tool_call",
            "id": result.output[0].call_id,
            "name": "get_weather",
            "arguments": {"city": "test"},
        }
    ]


def test_responses_stream(client, exporter):
    stream = _responses(client).create(model="gpt-4o-mini", input="Say hi", stream=True)
    assert isinstance(stream, openai.Stream)
    events = list(stream)
    assert events[-1].type == "response.completed"
    span = only_span(exporter)
    a = attrs(span)
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.id"] == events[-1].response.id
    assert a["gen_ai.usage.output_tokens"] == events[-1].response.usage.output_tokens
    assert "gen_ai.response.time_to_first_chunk" in a
    out = messages(span, "gen_ai.output.messages")
    assert out[0]["parts"] == [{"type": "text", "content": "Echo: Say hi"}]


def test_responses_stream_helper(client, exporter):
    responses = _responses(client)
    if not hasattr(responses, "stream"):
        pytest.skip("this openai release has no responses.stream")
    with responses.stream(model="gpt-4o-mini", input="Say hi") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    span = only_span(exporter)
    assert attrs(span)["gen_ai.response.id"] == final.id


def test_responses_stream_error_event(client, exporter):
    events = list(
        _responses(client).create(
            model="gpt-4o-mini", input="a b c", stream=True, **fake(error_event_after=2)
        )
    )
    assert events[-1].type == "error"  # the SDK yields it; the span still says ERROR
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "server_error"
    assert attrs(span)["gen_ai.response.id"].startswith("resp_")  # from response.created


class City(pydantic.BaseModel):
    name: str


def test_responses_parse(client, exporter):
    responses = _responses(client)
    if not hasattr(responses, "parse"):
        pytest.skip("this openai release has no responses.parse")
    result = responses.parse(model="gpt-4o-mini", input="City?", text_format=City)
    assert result.output_parsed == City(name="test")
    span = only_span(exporter)
    assert attrs(span)["gen_ai.output.type"] == "json"
    assert attrs(span)["gen_ai.response.id"] == result.id


async def test_async_responses(aclient, exporter):
    responses = _responses(aclient)
    await responses.create(model="gpt-4o-mini", input="Say hi")
    stream = await responses.create(model="gpt-4o-mini", input="Say hi", stream=True)
    assert isinstance(stream, openai.AsyncStream)
    async for _ in stream:
        pass
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    assert (
        attrs(spans[1])["gen_ai.usage.output_tokens"]
        == attrs(spans[0])["gen_ai.usage.output_tokens"]
    )


def test_responses_raw_response(client, exporter):
    raw = _responses(client).with_raw_response.create(model="gpt-4o-mini", input="Say hi")
    assert raw.parse().output_text == "Echo: Say hi"
    assert attrs(only_span(exporter))["gen_ai.response.finish_reasons"] == ("stop",)
