"""LangChain tracing: every LangChain run becomes an OpenTelemetry span, structure kept.

Two ways in:

* ``SpanrunCallbackHandler(tracer_provider=None, log_content=None)``: pass it in
  ``config={"callbacks": [handler]}`` or to a model or chain.
* ``LangChainInstrumentor().instrument(tracer_provider=None, log_content=None)`` (what
  ``spanrun.autolog()`` calls): injects one handler into every callback manager, now or when
  langchain-core is imported later; ``uninstrument()`` undoes it.

Runs map to spans as follows (parent = the LangChain parent run's span, else the current span):

=====================  ================================  =====================================
LangChain run          span name                         main attributes
=====================  ================================  =====================================
runnable / chain       ``chain {name}``                  ``input.value``, ``output.value``
prompt template        ``prompt {name}``                 ``langchain.prompt.template``,
                                                         ``langchain.prompt.input_variables``
output parser          ``parser {name}``                 ``input.value``, ``output.value``
chat model             ``chat {model}`` (CLIENT)         ``gen_ai.*`` request, messages, usage
LLM                    ``text_completion {model}``       same as chat models
tool                   ``execute_tool {name}``           ``gen_ai.tool.*`` (arguments, result)
retriever              ``retrieve {name}``               query and documents (input/output)
=====================  ================================  =====================================

While a run is open its span is the current OTel span, so what the run calls (an instrumented
OpenAI client under ``ChatOpenAI``, the user's own spans in a ``RunnableLambda`` or tool)
nests under it; while a model's stream is being consumed, that includes the consumer's code
between chunks. In async code LangChain ends runs in a copied context, so the caller's context
keeps an inert placeholder that stands for the span that was current before (see
``_context.py``): later spans still get the right parent.

With OpenInference's LangChain instrumentor also on (it hooks the same ``__init__``), its
``OpenInferenceTracer`` is kept out of the managers (recognised by module name, never imported)
so each step gives one span; once spanrun's instrumentation is off it is added again.

Failed runs get status ERROR, ``error.type`` and an exception event; the user's exception is
unchanged (a stream closed early is not a failure). Tool spans carry no
``gen_ai.operation.name``: spanrun counts every span with one as an LLM call.

Content (messages, inputs, outputs, tool arguments, documents, templates) is recorded unless
``log_content=False`` or ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` says otherwise.
OTel's suppress-instrumentation key is honoured. spanrun's own errors never break a chain: they
are logged once per site (``spanrun.core.internal_errors``); ``SPANRUN_RAISE_INTERNAL_ERRORS=1``
re-raises them (the handler's ``raise_error`` follows it), for debugging spanrun itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spanrun.instrumentation.langchain._instrumentor import LangChainInstrumentor, instruments

if TYPE_CHECKING:
    from spanrun.instrumentation.langchain._handler import SpanrunCallbackHandler

__all__ = ["LangChainInstrumentor", "SpanrunCallbackHandler", "instruments"]


def __getattr__(name: str) -> Any:
    # The handler subclasses langchain's BaseCallbackHandler: import it only when asked for.
    if name == "SpanrunCallbackHandler":
        from spanrun.instrumentation.langchain._handler import SpanrunCallbackHandler

        return SpanrunCallbackHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
