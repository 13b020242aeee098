"""Instrumenting openai imports none of its resource modules the program does not use.

Resource modules (embeddings, responses, completions...) are patched when the program first
imports them (the client does that on first access), so a chat-only program does not carry the
others' memory. Each case runs in a fresh interpreter: sys.modules must start clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from spanrun.testing.openai_server import OpenAIServer

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import openai
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from spanrun.instrumentation.openai import OpenAIInstrumentor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = openai.OpenAI(base_url=sys.argv[1], api_key="x", max_retries=0)
    before = set(sys.modules)
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    # (old SDKs import some resources with the package: those are patched at once)
    out = {"resources_imported_by_instrument": sorted(
        m for m in set(sys.modules) - before if m.startswith("openai.resources"))}
    client.embeddings.create(model="e", input="hello")  # first access imports the module
    if sys.argv[2] == "uninstrument":
        inst.uninstrument()
    client.completions.create(model="c", prompt="hi")
    out["spans"] = sorted(s.name for s in exporter.get_finished_spans())
    out["responses_imported"] = "openai.resources.responses" in sys.modules
    print(json.dumps(out))
    """
)


def _run(server: OpenAIServer, mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, server.base_url, mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_resource_modules_are_patched_when_first_imported(openai_server: OpenAIServer) -> None:
    out = _run(openai_server, "keep")
    assert out == {
        "resources_imported_by_instrument": [],
        "spans": ["embeddings e", "text_completion c"],
        "responses_imported": False,
    }


def test_uninstrument_also_cancels_patches_still_waiting(openai_server: OpenAIServer) -> None:
    # completions is imported only after uninstrument(): it must stay unwrapped
    out = _run(openai_server, "uninstrument")
    assert out["spans"] == ["embeddings e"]
