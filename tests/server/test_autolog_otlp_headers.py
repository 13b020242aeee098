"""autolog(otlp_headers=...): spans also go over OTLP to a receiver that needs a header (here a
spanrun server with a token), without OTEL_EXPORTER_OTLP_HEADERS (issue 14)."""

from __future__ import annotations

from pathlib import Path

import openai
from spanrun import _autolog
from spanrun.store import get_store
from spanrun.testing.openai_server import OpenAIServer
from tests.server.conftest import start_server


def test_autolog_sends_otlp_with_the_given_headers(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    server_uri = f"sqlite:///{tmp_path / 'collector.db'}"
    server = start_server(tmp_path, server_uri, token="hdr-t0ken")
    state = _autolog._Autolog()
    try:
        state.autolog(
            run_mode="none",
            otlp_endpoint=server.base_url,
            otlp_headers={"Authorization": "Bearer hdr-t0ken"},
        )
        client = openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "over otlp"}]
        )
        assert state.flush()
    finally:
        state.autolog(disable=True)
        server.stop()
    # The server mapped the span it received into a session run of its own store.
    runs = get_store(server_uri).search_runs(["0"])
    assert sum(r.data.metrics.get("llm.calls", 0) for r in runs) == 1
