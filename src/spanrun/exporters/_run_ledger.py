"""Per-run LLM accounting (pure, in memory): call index, running totals, first params.

One :class:`RunLedger` per run turns each counted LLM call into the metrics, params, tags and
prediction row that the exporter writes. :class:`InnermostTracker` decides which LLM spans count.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from spanrun.core.entities import Run
from spanrun.core.vocabulary import CALL_METRICS, PARAMS_VARIED_TAG
from spanrun.exporters._llm_call_reader import LLMCall

__all__ = [
    "InnermostTracker",
    "RunLedger",
    "RunWrites",
]


# Running totals (the latest value is the run's total so far), the last five of the call metrics.
# Per-call metrics carry the same numbers for one call: llm.input_tokens, llm.output_tokens,
# llm.total_tokens, ... The per-call total is ``llm.total_tokens``, so the running total of all
# tokens needs another name: ``llm.cumulative_tokens``.
CALLS, TOTAL_INPUT, TOTAL_OUTPUT, TOTAL_ALL, TOTAL_COST = CALL_METRICS[6:]


@dataclass
class RunWrites:
    """Everything one export batch writes to one run (the shapes of ``Store.log_export_batch``)."""

    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, ms, step
    # The LLM calls: (step, timestamp_ms, values of spanrun.core.vocabulary.CALL_METRICS)
    call_rows: list[tuple[Any, ...]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    rows: list[list[str]] = field(default_factory=list)  # cells in AUTOLOG_PREDICTION_COLUMNS order
    encoded: bytes | None = None  # the rows' CSV bytes, once they are final
    calls: int = 0  # LLM calls recorded in this batch

    def absorb(self, later: RunWrites) -> None:
        """Add a later batch's writes to these (written together in one transaction)."""
        self.metrics += later.metrics
        self.call_rows += later.call_rows
        for key, value in later.params.items():
            self.params.setdefault(key, value)  # the first value wins, as in the store
        self.tags.update(later.tags)
        if not self.rows:
            self.encoded = later.encoded
        elif later.rows:
            both = self.encoded is not None and later.encoded is not None
            # None: encoded from the rows when written
            self.encoded = self.encoded + later.encoded if both else None  # type: ignore[operator]
        self.rows += later.rows
        self.calls += later.calls


@dataclass
class RunLedger:
    """What this process knows of a run's LLM calls; seeded from the store (resumed runs)."""

    run_id: str
    experiment_id: str
    artifact_uri: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tokens: int = 0
    cost: float = 0.0
    params: dict[str, str] = field(default_factory=dict)
    params_varied: bool = False
    store: Any = field(default=None, repr=False, compare=False)  # where the run lives

    @classmethod
    def from_run(cls, run: Run, store: Any = None) -> RunLedger:
        m = run.data.metrics
        return cls(
            run_id=run.info.run_id,
            experiment_id=run.info.experiment_id,
            artifact_uri=run.info.artifact_uri,
            calls=int(m.get(CALLS, 0)),
            input_tokens=int(m.get(TOTAL_INPUT, 0)),
            output_tokens=int(m.get(TOTAL_OUTPUT, 0)),
            tokens=int(m.get(TOTAL_ALL, 0)),
            cost=float(m.get(TOTAL_COST, 0.0)),
            params={k: v for k, v in run.data.params.items() if k.startswith("llm.")},
            params_varied=run.data.tags.get(PARAMS_VARIED_TAG) == "true",
            store=store,
        )

    def record(
        self,
        call: LLMCall,
        writes: RunWrites,
        *,
        end_ms: int,
        latency_ms: float,
        cost: float | None,
        trace_id: str,
        span_id: str,
    ) -> list[str]:
        """Add one call's metrics (a call row; step = its index in the run) and params to
        ``writes``.

        Returns the call's prediction row (cells in ``AUTOLOG_PREDICTION_COLUMNS`` order); the
        caller decides when it is written.
        """
        step = self.calls
        self.calls = calls = step + 1
        writes.calls += 1
        input_tokens, output_tokens, total_tokens = (
            call.input_tokens,
            call.output_tokens,
            call.total_tokens,
        )
        if input_tokens is not None:
            self.input_tokens += input_tokens
        if output_tokens is not None:
            self.output_tokens += output_tokens
        if total_tokens is not None:
            self.tokens += total_tokens
        if cost is not None:
            self.cost += cost
        # One row with every metric of the call at its step (spanrun.core.vocabulary.CALL_METRICS
        # order): the store keeps it as one row, not a history row per metric.
        writes.call_rows.append(
            (
                step,
                end_ms,
                input_tokens,
                output_tokens,
                total_tokens,
                latency_ms,
                call.time_to_first_token_ms,
                cost,
                calls,
                self.input_tokens,
                self.output_tokens,
                self.tokens,
                self.cost if cost is not None or self.cost else None,
            )
        )

        # First value per param key wins; a different later value only sets the tag.
        known = self.params
        for key, value in call.params.items():
            old = known.get(key)
            if old is None:
                known[key] = writes.params[key] = value
            elif old != value and not self.params_varied:
                self.params_varied = True
                writes.tags[PARAMS_VARIED_TAG] = "true"

        # A list rather than a dict: the CSV writer takes it as it is (~5k fewer instructions
        # per row, cachegrind, than a dict turned into a list when written).
        return [
            call.inputs,
            call.outputs,
            call.prompts,
            call.model,
            str(round(latency_ms, 3)),  # latency_ms
            "" if input_tokens is None else str(input_tokens),
            "" if output_tokens is None else str(output_tokens),
            "" if total_tokens is None else str(total_tokens),
            trace_id,
            span_id,
            str(end_ms),  # timestamp
            call.error,
        ]


class InnermostTracker:
    """Counts each LLM call once: an LLM span that wraps another LLM span does not count.

    Children end (and reach the exporter) before their parents, so when a span ends we mark its
    parent as "has an LLM span below" if the span is an LLM span or was marked itself. Memory is
    per open trace, bounded to ``max_traces`` (the oldest are forgotten) and freed at the root.
    """

    def __init__(self, max_traces: int = 10_000) -> None:
        self._max = max_traces
        self._marked: OrderedDict[str, set[str]] = OrderedDict()

    def wraps_llm(self, trace_id: str, span_id: str, parent_id: str | None, is_llm: bool) -> bool:
        """Note a finished span; True when an LLM span ended below it."""
        marked = self._marked.get(trace_id)
        below = marked is not None and span_id in marked
        if below:
            marked.discard(span_id)  # type: ignore[union-attr]
        if parent_id is None:
            self._marked.pop(trace_id, None)
        elif is_llm or below:
            if marked is None:
                marked = self._marked[trace_id] = set()
                if len(self._marked) > self._max:
                    self._marked.popitem(last=False)
            marked.add(parent_id)
        return below
