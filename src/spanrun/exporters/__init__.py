"""Span processors and exporters that turn OpenTelemetry GenAI spans into spanrun runs.

Add spanrun to any SDK TracerProvider (spans from spanrun's instrumentors, OTel's openai-v2,
OpenLLMetry or OpenInference are all understood)::

    from spanrun.exporters import BoundedBatchSpanProcessor, RunExporter, RunStampingProcessor

    provider.add_span_processor(RunStampingProcessor())
    provider.add_span_processor(BoundedBatchSpanProcessor(RunExporter(run_mode="trace")))

``spanrun.autolog()`` does exactly this for you.
"""

from spanrun.exporters._batch import BoundedBatchSpanProcessor
from spanrun.exporters._llm_call_reader import llm_operation
from spanrun.exporters._prices import PricesArg, PriceTable
from spanrun.exporters._run_exporter import RUN_MODES, RunExporter, RunMode, program_name
from spanrun.exporters._runs import SpanOrigin, SpanSource, session_run_key
from spanrun.exporters._server_spans import (
    TRANSPORT_ENV,
    TRANSPORTS,
    ServerSpanExporter,
    Transport,
    transport_setting,
)
from spanrun.exporters._stamping import (
    JUDGE_ATTRIBUTE,
    JUDGE_CONTEXT_KEY,
    RunStampingProcessor,
)

__all__ = [
    "JUDGE_ATTRIBUTE",
    "JUDGE_CONTEXT_KEY",
    "RUN_MODES",
    "TRANSPORTS",
    "TRANSPORT_ENV",
    "BoundedBatchSpanProcessor",
    "PriceTable",
    "PricesArg",
    "RunExporter",
    "RunMode",
    "RunStampingProcessor",
    "ServerSpanExporter",
    "SpanOrigin",
    "SpanSource",
    "Transport",
    "llm_operation",
    "program_name",
    "session_run_key",
    "transport_setting",
]
