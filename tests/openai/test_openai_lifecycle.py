"""instrument/uninstrument: idempotence, clean removal, openai imported later, global provider."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import wrapt

import openai
from spanrun.instrumentation.openai import OpenAIInstrumentor

from ._helpers import USER, only_span

_create = openai.resources.chat.completions.Completions.__dict__["create"]


def test_instrument_twice_gives_one_span(client, exporter, provider):
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    inst.instrument(tracer_provider=provider)
    assert OpenAIInstrumentor() is inst
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        only_span(exporter)
        current = openai.resources.chat.completions.Completions.__dict__["create"]
        assert isinstance(current, wrapt.FunctionWrapper)
        assert current.__wrapped__ is _create  # one layer, not two
    finally:
        inst.uninstrument()


def test_uninstrument_removes_every_patch(client, exporter, provider):
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    inst.uninstrument()
    assert not inst.is_instrumented
    resources = openai.resources
    classes = [
        resources.chat.completions.Completions,
        resources.chat.completions.AsyncCompletions,
        resources.completions.Completions,
        resources.embeddings.Embeddings,
        resources.embeddings.AsyncEmbeddings,
    ]
    if hasattr(resources, "responses"):
        classes += [resources.responses.Responses, resources.responses.AsyncResponses]
    for cls in classes:
        for name, value in vars(cls).items():
            assert not isinstance(value, wrapt.FunctionWrapper), f"{cls.__name__}.{name}"
    assert openai.resources.chat.completions.Completions.__dict__["create"] is _create
    client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert exporter.get_finished_spans() == ()
    inst.uninstrument()  # twice is harmless


def test_reinstrument_after_uninstrument(client, exporter, provider):
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    inst.uninstrument()
    inst.instrument(tracer_provider=provider)
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        only_span(exporter)
    finally:
        inst.uninstrument()


def test_stream_opened_before_uninstrument_still_ends(client, exporter, provider):
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    inst.uninstrument()
    list(stream)
    only_span(exporter)


_SCRIPT = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from spanrun.instrumentation.openai import OpenAIInstrumentor
    from spanrun.testing.openai_server import OpenAIServer

    OpenAIInstrumentor().instrument()  # no provider given, none configured yet
    assert "openai" not in sys.modules
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # configured after instrument(): still used

    import openai  # imported after instrument(): patched by the post-import hook

    with OpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    print([s.name for s in exporter.get_finished_spans()])
    """
)


def test_openai_imported_after_instrument_and_global_provider():
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['chat m']"
