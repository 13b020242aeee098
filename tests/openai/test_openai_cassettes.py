"""Conformance: replay real recorded OpenAI responses (../shared/cassettes/openai) through the
instrumented client and check tokens, models, finish reasons and content against them."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import openai
from spanrun.instrumentation.openai import OpenAIInstrumentor

from ._replay import ReplayServer

CASSETTES = Path(__file__).resolve().parents[2].parent / "shared" / "cassettes" / "openai"
FILES = sorted(CASSETTES.glob("*.yaml")) if CASSETTES.is_dir() else []

pytestmark = pytest.mark.skipif(not FILES, reason=f"no cassettes in {CASSETTES}")


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer()
    yield server
    server.close()


def _interactions(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text())["interactions"]


def _method(client: Any, path: str) -> Any:
    if path.endswith("/chat/completions"):
        return client.chat.completions.create
    if path.endswith("/embeddings"):
        return client.embeddings.create
    if path.endswith("/responses"):
        if not hasattr(client, "responses"):
            pytest.skip("this openai release has no Responses API")
        return client.responses.create
    raise AssertionError(path)


def _kwargs(method: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The recorded body as SDK arguments; what the SDK does not know goes in extra_body."""
    params = inspect.signature(inspect.unwrap(method)).parameters
    known = {k: v for k, v in body.items() if k in params}
    extra = {k: v for k, v in body.items() if k not in params}
    if extra:
        known["extra_body"] = extra
    return known


def _sse_data(text: str) -> list[Any]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            out.append(json.loads(line[6:]))
    return out


def _expected(path: str, body: str, stream: bool) -> dict[str, Any]:
    """Tokens, model, finish reasons and texts as the recorded response says."""
    exp: dict[str, Any] = {}
    if path.endswith("/chat/completions"):
        if stream:
            texts: dict[int, str] = {}
            finish: dict[int, str] = {}
            calls: dict[int, dict[int, list[str]]] = {}
            usage = None
            for chunk in _sse_data(body):
                exp["model"] = chunk.get("model")
                usage = chunk.get("usage") or usage
                for c in chunk.get("choices") or []:
                    i = c["index"]
                    texts[i] = texts.get(i, "") + (c["delta"].get("content") or "")
                    for tc in c["delta"].get("tool_calls") or []:
                        slot = calls.setdefault(i, {}).setdefault(tc["index"], ["", ""])
                        fn = tc.get("function") or {}
                        slot[0] += fn.get("name") or ""
                        slot[1] += fn.get("arguments") or ""
                    if c.get("finish_reason"):
                        finish[i] = c["finish_reason"]
            exp["texts"] = [texts[i] for i in sorted(texts)]
            exp["tool_calls"] = [
                [tuple(calls[i][t]) for t in sorted(calls[i])] for i in sorted(calls)
            ]
            exp["finish"] = tuple(finish[i] for i in sorted(finish))
            exp["usage"] = (
                (usage or {}).get("prompt_tokens"),
                (usage or {}).get("completion_tokens"),
            )
        else:
            data = json.loads(body)
            exp["model"] = data["model"]
            exp["texts"] = [c["message"].get("content") or "" for c in data["choices"]]
            exp["tool_calls"] = [
                [
                    (t["function"]["name"], t["function"]["arguments"])
                    for t in c["message"].get("tool_calls") or []
                ]
                for c in data["choices"]
                if c["message"].get("tool_calls")
            ]
            exp["finish"] = tuple(c["finish_reason"] for c in data["choices"])
            exp["usage"] = data["usage"]["prompt_tokens"], data["usage"]["completion_tokens"]
    elif path.endswith("/embeddings"):
        data = json.loads(body)
        exp["model"] = data["model"]
        exp["usage"] = data["usage"]["prompt_tokens"], None
    else:
        if stream:
            final = [e["response"] for e in _sse_data(body) if e["type"] == "response.completed"]
            data = final[-1]
        else:
            data = json.loads(body)
        exp["model"] = data["model"]
        u = data["usage"]
        exp["usage"] = u["input_tokens"], u["output_tokens"]
        exp["cached"] = u["input_tokens_details"]["cached_tokens"]
        exp["reasoning"] = u["output_tokens_details"]["reasoning_tokens"]
        exp["texts"] = [
            "".join(c.get("text", "") for c in item["content"] if c["type"] == "output_text")
            for item in data["output"]
            if item["type"] == "message"
        ]
        exp["tool_calls"] = [
            [(i["name"], i["arguments"]) for i in data["output"] if i["type"] == "function_call"]
        ]
    return exp


def _run(client: Any, method: Any, kwargs: dict[str, Any], stream: bool, is_async: bool) -> None:
    if not is_async:
        result = method(**kwargs)
        if stream:
            for _ in result:
                pass
        return

    async def go() -> None:
        result = await method(**kwargs)
        if stream:
            async for _ in result:
                pass

    asyncio.run(go())


def _cases() -> list[Any]:
    cases = []
    for path in FILES:
        for index, _ in enumerate(_interactions(path)):
            cases.append(pytest.param(path, index, id=f"{path.stem}[{index}]"))
    return cases


@pytest.mark.parametrize(("cassette", "index"), _cases())
def test_cassette_replay(cassette, index, replay, provider, exporter, monkeypatch):
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    interaction = _interactions(cassette)[index]
    request, response = interaction["request"], interaction["response"]
    body = json.loads(request["body"]) if request["body"] else {}
    path = request["uri"].split("api.openai.com", 1)[1]
    status = response["status"]["code"]
    headers = {k.lower(): v for k, v in response["headers"].items()}
    content_type = (headers.get("content-type") or ["application/json"])[0]
    replay.next_response = (status, content_type, response["body"]["string"])
    stream = body.get("stream") is True
    is_async = cassette.name.startswith("test_async_")

    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider, log_content=True)
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    client = cls(base_url=replay.base_url, api_key="test", max_retries=0)
    try:
        method = _method(client, path)
        kwargs = _kwargs(method, body)
        if status >= 400:
            with pytest.raises(openai.APIStatusError) as caught:
                _run(client, method, kwargs, stream, is_async)
            [span] = exporter.get_finished_spans()
            assert span.attributes["error.type"] == type(caught.value).__qualname__
            assert caught.value.status_code == status
            return
        _run(client, method, kwargs, stream, is_async)
    finally:
        inst.uninstrument()

    [span] = exporter.get_finished_spans()
    a = dict(span.attributes)
    exp = _expected(path, response["body"]["string"], stream)
    assert a["gen_ai.request.model"] == body["model"]
    assert a["gen_ai.response.model"] == exp["model"]
    input_tokens, output_tokens = exp["usage"]
    assert a.get("gen_ai.usage.input_tokens") == input_tokens
    assert a.get("gen_ai.usage.output_tokens") == output_tokens
    if "cached" in exp:
        assert a["gen_ai.usage.cache_read.input_tokens"] == exp["cached"]
        assert a["gen_ai.usage.reasoning.output_tokens"] == exp["reasoning"]
    if "finish" in exp:
        assert a.get("gen_ai.response.finish_reasons", ()) == exp["finish"]
    if "texts" not in exp:
        return
    out = json.loads(a["gen_ai.output.messages"])
    texts = ["".join(p["content"] for p in m["parts"] if p["type"] == "text") for m in out]
    assert [t for t in texts if t] == [t for t in exp["texts"] if t]
    calls = [
        [(p["name"], json.dumps(p["arguments"])) for p in m["parts"] if p["type"] == "tool_call"]
        for m in out
    ]
    expected_calls = [
        [(name, json.dumps(json.loads(args))) for name, args in group]
        for group in exp["tool_calls"]
    ]
    assert [c for c in calls if c] == [c for c in expected_calls if c]
