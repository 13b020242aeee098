"""The span processor that stamps each span, at start, with the run it belongs to."""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.context import Context, create_key, get_value
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from spanrun.core import internal_errors
from spanrun.core.current import lookups
from spanrun.core.semconv import SPANRUN_EXPERIMENT_ID, SPANRUN_RUN_ID

__all__ = ["JUDGE_ATTRIBUTE", "JUDGE_CONTEXT_KEY", "RunStampingProcessor", "active_run_ids"]

#: Set on every span started while an LLM judge grades (value: the metric's name): such LLM
#: calls count in their run's metrics (tokens, cost) and traces, but get no row in
#: ``llm_predictions.csv``, which holds the evaluated model's calls.
JUDGE_ATTRIBUTE = "spanrun.judge.metric"
#: The OpenTelemetry context key a judge sets (to its metric's name) around its calls; read at
#: span start, so it marks the spans of any tracer provider.
JUDGE_CONTEXT_KEY = create_key("spanrun.judge.metric")

_log = logging.getLogger(__name__)

RunIds = tuple[str, str]  # (run_id, experiment_id)


def active_run_ids() -> RunIds | None:
    """The (run_id, experiment_id) of the active run in this context, or None (the tracking
    layer's answer, through ``spanrun.core.current``)."""
    return lookups.active_run_ids()


class RunStampingProcessor(SpanProcessor):
    """Copies the run onto each span as ``spanrun.run_id`` and ``spanrun.experiment_id``.

    ``on_start`` runs on the caller's thread, where the active run is known (the exporter runs
    on another thread). Rule: a span whose parent (same trace) is stamped inherits the parent's
    run, so every span of a trace started inside a run belongs to that run even when a library
    hops threads with the OTel context but not the run stack; otherwise the active run, if any.
    Spans left unstamped are mapped by the exporter's run mode. A span started while
    :data:`JUDGE_CONTEXT_KEY` is set gets :data:`JUDGE_ATTRIBUTE`.
    """

    def __init__(self, get_active_run: Callable[[], RunIds | None] = active_run_ids) -> None:
        self._get_active_run = get_active_run
        self._failed = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            judge = get_value(JUDGE_CONTEXT_KEY, parent_context)
            if judge is not None:
                span.set_attribute(JUDGE_ATTRIBUTE, str(judge))
            parent = trace.get_current_span(parent_context)
            if isinstance(parent, ReadableSpan) and parent.attributes:
                run_id = parent.attributes.get(SPANRUN_RUN_ID)
                if run_id is not None:
                    span.set_attribute(SPANRUN_RUN_ID, run_id)
                    experiment_id = parent.attributes.get(SPANRUN_EXPERIMENT_ID)
                    if experiment_id is not None:
                        span.set_attribute(SPANRUN_EXPERIMENT_ID, experiment_id)
                    return
            ids = self._get_active_run()
            if ids is not None:
                span.set_attribute(SPANRUN_RUN_ID, ids[0])
                span.set_attribute(SPANRUN_EXPERIMENT_ID, ids[1])
        except Exception:
            # Stamping must never break span creation in the user's program.
            internal_errors.report("stamping a span with the active run", logger=_log)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
