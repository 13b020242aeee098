"""`spanrun server` receives OTLP traces out of the box: OTLP/HTTP at /v1/traces (behind the
server's token) and, with --otlp-grpc-port, OTLP/gRPC; the official exporters' spans of real
openai calls become runs with per-call metrics (issue 12)."""

from __future__ import annotations

from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)

import openai
from spanrun.store import get_store
from spanrun.testing.openai_server import OpenAIServer
from tests.server.conftest import free_port, start_server
from tests.server.otlp._senders import instrumented_sender


def _runs_of(uri: str, service: str) -> list:
    store = get_store(uri)
    return [r for r in store.search_runs(["0"]) if r.info.run_name == service]


def test_spanrun_server_maps_otlp_http_and_grpc_into_runs(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    uri = f"sqlite:///{tmp_path / 'otlp.db'}"
    grpc_port = free_port()
    token = "s3cret"
    server = start_server(
        tmp_path, uri, token=token, extra_args=("--otlp-grpc-port", str(grpc_port))
    )
    try:
        client = openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)
        auth = {"authorization": f"Bearer {token}"}
        http = HttpSpanExporter(endpoint=f"{server.base_url}/v1/traces", headers=auth)
        with instrumented_sender(http, service_name="via-http"):
            for i in range(3):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"h{i}"}]
                )
        grpc = GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, headers=auth)
        with instrumented_sender(grpc, service_name="via-grpc"):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "g"}]
            )
        # Without the token: refused.
        anonymous = httpx.post(
            f"{server.base_url}/v1/traces",
            content=b"",
            headers={"content-type": "application/x-protobuf"},
        )
        assert anonymous.status_code == 401
    finally:
        server.stop()
    (via_http,) = _runs_of(uri, "via-http")
    (via_grpc,) = _runs_of(uri, "via-grpc")
    assert via_http.data.metrics["llm.calls"] == 3
    assert via_grpc.data.metrics["llm.calls"] == 1
    assert via_http.data.params["llm.model"] == "gpt-4o-mini"
