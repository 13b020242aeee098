"""Span processors and exporters that turn OpenTelemetry GenAI spans into spanrun runs.

Add spanrun to any SDK TracerProvider (spans from spanrun's instrumentors, OTel's openai-v2,
OpenLLMetry or OpenInference are all understood)::

    from spanrun.exporters import BoundedBatchSpanProcessor, RunExporter, RunStampingProcessor

    provider.add_span_processor(RunStampingProcessor())
    provider.add_span_processor(BoundedBatchSpanProcessor(RunExporter(run_mode="trace")))

``spanrun.autolog()`` does exactly this for you.
"""

from spanrun.exporters._batch import BoundedBatchSpanProcessor
from spanrun.exporters._llm_tracking import PREDICTION_COLUMNS
from spanrun.exporters._prices import PriceTable
from spanrun.exporters._run_exporter import PREDICTIONS_FILE, RUN_MODES, RunExporter
from spanrun.exporters._stamping import RunStampingProcessor

__all__ = [
    "PREDICTIONS_FILE",
    "PREDICTION_COLUMNS",
    "RUN_MODES",
    "BoundedBatchSpanProcessor",
    "PriceTable",
    "RunExporter",
    "RunStampingProcessor",
]
