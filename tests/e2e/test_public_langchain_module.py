"""``spanrun.langchain`` exposes the callback handler without importing langchain eagerly."""

from __future__ import annotations

import subprocess
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def test_callback_handler_is_reachable_from_spanrun_langchain() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate

    import spanrun

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = spanrun.langchain.SpanrunCallbackHandler(tracer_provider=provider)

    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | FakeListChatModel(
        responses=["forty-two"]
    )
    reply = chain.invoke({"q": "answer?"}, config={"callbacks": [handler]})

    assert reply.content == "forty-two"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert any(name.startswith("chat ") for name in spans), sorted(spans)
    root = [s for s in spans.values() if s.parent is None]
    assert len(root) == 1 and root[0].name.startswith("chain ")


def test_importing_spanrun_langchain_does_not_import_langchain() -> None:
    code = (
        "import sys, spanrun, spanrun.langchain; "
        "assert 'langchain_core' not in sys.modules, 'eager import'; "
        "spanrun.langchain.SpanrunCallbackHandler; "
        "assert 'langchain_core' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
