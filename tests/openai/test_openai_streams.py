"""Streams: identical chunks, one span that ends exactly once whichever way the stream ends."""

from __future__ import annotations

import gc

import pytest
from opentelemetry.trace import StatusCode

import openai
from spanrun.instrumentation.openai import OpenAIInstrumentor

from ._helpers import TIME_TOOL, USER, WEATHER_TOOL, attrs, fake, messages, only_span

pytestmark = pytest.mark.usefixtures("instrumented")

USAGE = {"stream_options": {"include_usage": True}}


def _chunks_without_instrumentation(client, **kwargs):
    OpenAIInstrumentor().uninstrument()
    return [c.model_dump() for c in client.chat.completions.create(**kwargs)]


def test_stream_is_still_an_sdk_stream_with_identical_chunks(client, exporter, provider):
    kwargs = dict(model="gpt-4o-mini", messages=USER, stream=True, **USAGE)
    stream = client.chat.completions.create(**kwargs)
    assert isinstance(stream, openai.Stream)
    seen = [c.model_dump() for c in stream]
    assert exporter.get_finished_spans()[0].name == "chat gpt-4o-mini"
    assert seen == _chunks_without_instrumentation(client, **kwargs)


def test_stream_exhausted(client, exporter):
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **USAGE
    )
    assert exporter.get_finished_spans() == ()  # open while the user iterates
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    span = only_span(exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.UNSET
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 6
    assert a["gen_ai.usage.output_tokens"] == 6  # "Echo: Say this is a test"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.id"].startswith("chatcmpl-")
    assert isinstance(a["gen_ai.response.time_to_first_chunk"], float)
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    out = messages(span, "gen_ai.output.messages")
    assert out == [
        {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}
    ]
    stream.close()  # closing after the end changes nothing
    assert len(exporter.get_finished_spans()) == 1


def test_stream_without_usage_chunk(client, exporter):
    list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    a = attrs(only_span(exporter))
    assert "gen_ai.usage.input_tokens" not in a
    assert a["gen_ai.response.finish_reasons"] == ("stop",)


def test_streamed_tool_call_fragments_are_merged(client, exporter):
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        tools=[WEATHER_TOOL, TIME_TOOL],
        stream=True,
        **fake(tools="all", chunks=4),
    )
    fragments = [tc for c in stream for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(fragments) > 4  # the arguments really came in pieces
    out = messages(only_span(exporter), "gen_ai.output.messages")
    assert out[0]["finish_reason"] == "tool_calls"
    assert [(p["name"], p["arguments"]) for p in out[0]["parts"]] == [
        ("get_weather", {"city": "test"}),
        ("get_time", {"zone": "test", "utc": True}),
    ]
    assert all(p["type"] == "tool_call" and p["id"] for p in out[0]["parts"])


def test_stream_n_choices_and_refusal(client, exporter):
    list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, n=2, **fake(refusal=True)
        )
    )
    out = messages(only_span(exporter), "gen_ai.output.messages")
    assert len(out) == 2
    assert out[1]["parts"] == [{"type": "refusal", "content": "I'm sorry, I can't help with that."}]


def test_stream_closed_early(client, exporter):
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **fake(chunks=10)
    )
    next(stream)
    next(stream)
    assert exporter.get_finished_spans() == ()
    stream.close()
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.response.time_to_first_chunk" in attrs(span)
    stream.close()
    assert len(exporter.get_finished_spans()) == 1


def test_stream_context_manager_early_exit(client, exporter):
    with client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **fake(chunks=10)
    ) as stream:
        for _ in stream:
            break
    assert len(exporter.get_finished_spans()) == 1


def test_stream_context_manager_user_exception(client, exporter):
    with (
        pytest.raises(KeyError),
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True) as stream,
    ):
        next(stream)
        raise KeyError("user bug")
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "KeyError"


def test_abandoned_stream_ends_on_gc(client, exporter):
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **fake(chunks=10)
    )
    next(stream)
    del stream
    gc.collect()
    assert len(exporter.get_finished_spans()) == 1


def test_stream_broken_mid_way(client, exporter):
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **fake(chunks=10, break_after=3)
    )
    got = []
    with pytest.raises(Exception) as caught:
        for chunk in stream:
            got.append(chunk)
    assert len(got) == 3
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == type(caught.value).__qualname__
    assert attrs(span)["gen_ai.response.id"] == got[0].id  # what was seen is kept


def test_stream_error_event(client, exporter):
    with pytest.raises(openai.APIError):
        list(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=USER, stream=True, **fake(error_event_after=2)
            )
        )
    assert attrs(only_span(exporter))["error.type"] == "APIError"


def test_slow_stream_times_out(client, exporter):
    slow = client.with_options(timeout=0.3)
    stream = slow.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **fake(chunk_delay=1, chunks=3)
    )
    # Newer SDKs raise APITimeoutError, older ones httpx.ReadTimeout: the span names either.
    with pytest.raises(Exception) as caught:
        list(stream)
    assert "Timeout" in type(caught.value).__name__
    assert attrs(only_span(exporter))["error.type"] == type(caught.value).__qualname__


def test_hundred_chunk_stream(client, exporter):
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, **fake(chunks=100)
        )
    )
    assert len(chunks) == 102  # role chunk, 100 content chunks, finish chunk
    out = messages(only_span(exporter), "gen_ai.output.messages")
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert out[0]["parts"][0]["content"] == text


def _stream_helper(client):
    """``chat.completions.stream`` (``beta.chat.completions.stream`` in older SDKs)."""
    if hasattr(client.chat.completions, "stream"):
        return client.chat.completions.stream
    return client.beta.chat.completions.stream


def test_stream_helper(client, exporter):
    with _stream_helper(client)(model="gpt-4o-mini", messages=USER) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    span = only_span(exporter)
    out = messages(span, "gen_ai.output.messages")
    assert out[0]["parts"][0]["content"] == final.choices[0].message.content


def test_raw_response_stream(client, exporter):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=USER, stream=True
    )
    assert raw.headers["x-request-id"] == "req_spanrun"
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    out = messages(only_span(exporter), "gen_ai.output.messages")
    assert out[0]["parts"][0]["content"] == text


def test_streaming_response_form(client, exporter):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER, stream=True
    ) as response:
        assert exporter.get_finished_spans() == ()
        chunks = list(response.parse())
    assert len(chunks) > 2
    span = only_span(exporter)
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("stop",)


def test_streaming_response_form_unparsed(client, exporter):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER, stream=True
    ) as response:
        lines = list(response.iter_lines())
    assert any("[DONE]" in line for line in lines)
    assert len(exporter.get_finished_spans()) == 1


def test_raw_response_non_stream(client, exporter):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    completion = raw.parse()
    span = only_span(exporter)
    assert attrs(span)["gen_ai.response.id"] == completion.id
    assert raw.parse() is completion  # the SDK's parse cache still works


def test_streaming_response_form_non_stream(client, exporter):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER
    ) as response:
        completion = response.parse()
    assert attrs(only_span(exporter))["gen_ai.response.id"] == completion.id


async def test_async_stream_exhausted(aclient, exporter):
    stream = await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **USAGE
    )
    assert isinstance(stream, openai.AsyncStream)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    span = only_span(exporter)
    assert attrs(span)["gen_ai.usage.output_tokens"] == 6
    assert messages(span, "gen_ai.output.messages")[0]["parts"][0]["content"] == text


async def test_async_stream_close_and_context(aclient, exporter):
    stream = await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **fake(chunks=10)
    )
    await stream.__anext__()
    await stream.close()
    async with await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True
    ) as stream2:
        async for _ in stream2:
            break
    assert len(exporter.get_finished_spans()) == 2


async def test_async_stream_broken(aclient, exporter):
    stream = await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, **fake(break_after=2)
    )
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises, unchanged
        async for _ in stream:
            pass
    assert only_span(exporter).status.status_code is StatusCode.ERROR


async def test_async_streaming_response_form(aclient, exporter):
    async with aclient.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER, stream=True
    ) as response:
        chunks = [c async for c in await response.parse()]
    assert len(chunks) > 2
    assert len(exporter.get_finished_spans()) == 1


async def test_async_stream_helper(aclient, exporter):
    async with _stream_helper(aclient)(model="gpt-4o-mini", messages=USER) as stream:
        async for _ in stream:
            pass
    assert only_span(exporter).name == "chat gpt-4o-mini"
