"""The local OpenAI-compatible server: shapes match real recordings, switches work, CLI starts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from spanrun.testing import _fake_answers as fake
from spanrun.testing.openai_server import OpenAIServer

CASSETTES = Path(__file__).resolve().parents[2].parent / "shared" / "cassettes" / "openai"


def _recorded(name: str) -> dict:
    import yaml

    path = CASSETTES / name
    if not path.exists():
        pytest.skip(f"no cassette {path}")
    return yaml.safe_load(path.read_text())["interactions"][0]


def _keys(value: object, prefix: str = "") -> set[str]:
    """Every key path of a JSON value (list items merged)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(prefix + k)
            out |= _keys(v, prefix + k + ".")
    elif isinstance(value, list):
        for item in value:
            out |= _keys(item, prefix)
    return out


@pytest.mark.parametrize(
    ("cassette", "path"),
    [
        ("test_chat_completion_with_content.yaml", "/v1/chat/completions"),
        ("test_chat_completion_tool_calls_with_content.yaml", "/v1/chat/completions"),
        ("test_responses_create_basic.yaml", "/v1/responses"),
        ("test_embeddings_with_content.yaml", "/v1/embeddings"),
    ],
)
def test_json_shapes_cover_the_recorded_ones(openai_server, cassette, path):
    recorded = _recorded(cassette)
    body = json.loads(recorded["request"]["body"])
    ours = httpx.post(openai_server.url + path, json=body).json()
    real = json.loads(recorded["response"]["body"]["string"])
    assert _keys(real) - _keys(ours) == set()


def test_sse_chat_stream_shape(openai_server):
    body = {"model": "m", "messages": [{"role": "user", "content": "a b"}], "stream": True}
    body["stream_options"] = {"include_usage": True}
    text = httpx.post(openai_server.base_url + "/chat/completions", json=body).text
    events = [line[6:] for line in text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_error_switch_and_model_not_found(openai_server):
    body = {"model": "m", "messages": []}
    r = httpx.post(
        openai_server.base_url + "/chat/completions",
        json=body,
        headers={"x-spanrun-fake": "error=429"},
    )
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert r.headers["x-should-retry"] == "false"
    r = httpx.post(openai_server.base_url + "/embeddings", json={"model": "x-does-not-exist"})
    assert r.status_code == 404
    assert "x-does-not-exist" in r.json()["error"]["message"]


def test_chunks_switch_gives_exact_count():
    plan_body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    plan = fake.plan_chat(plan_body, fake.Directives(chunks=100))
    chunks = fake.chat_chunks(plan, plan_body, fake.Directives(chunks=100))
    assert len(chunks) == 102


def test_requests_are_recorded(openai_server):
    openai_server.clear_requests()
    httpx.get(openai_server.base_url + "/models")
    [request] = openai_server.requests
    assert (request.method, request.path) == ("GET", "/v1/models")


def test_start_stop_without_context_manager():
    server = OpenAIServer().start()
    try:
        assert httpx.get(server.base_url + "/models").json()["object"] == "list"
    finally:
        server.stop()
    with pytest.raises(RuntimeError):
        _ = server.base_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_entry_point():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spanrun.testing.openai_server", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert f"127.0.0.1:{port}/v1" in proc.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/models")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert r.json()["data"][0]["id"] == "gpt-4o-mini"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
