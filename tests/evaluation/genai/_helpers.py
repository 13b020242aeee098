"""Helpers of the judge tests."""

from __future__ import annotations

from spanrun.testing.openai_server import OpenAIServer


def prompts_sent(server: OpenAIServer) -> list[str]:
    """The user message of every chat request the server received, in order."""
    return [
        r.body["messages"][-1]["content"]
        for r in server.requests
        if r.path.endswith("/chat/completions")
    ]
