"""Prediction rows held until their trace's root span arrives (its input is the rows' input)."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from spanrun.core.semconv import INPUT_VALUE
from spanrun.core.vocabulary import INPUTS_INDEX
from spanrun.exporters._run_ledger import RunLedger, RunWrites

__all__ = ["BatchWrites", "PendingRows", "add_rows"]

#: One export batch's writes: run_id -> (the run's ledger, what the batch writes to it).
BatchWrites = dict[str, tuple[RunLedger, RunWrites]]


def add_rows(writes: BatchWrites, rows: list[tuple[RunLedger, list[str]]]) -> None:
    """Add prediction rows to their runs' writes."""
    for ledger, row in rows:
        if ledger.run_id not in writes:
            writes[ledger.run_id] = (ledger, RunWrites())
        writes[ledger.run_id][1].rows.append(row)


@dataclass
class _Waiting:
    since: float  # time.monotonic() of the trace's first parked row
    rows: list[tuple[RunLedger, list[str]]] = field(default_factory=list)


class PendingRows:
    """The prediction rows of LLM calls inside a larger trace, per trace id, until the trace's
    root span arrives: its ``input.value`` (a chain's input) becomes the rows' ``inputs``.

    Bounded: at most ``max_traces`` traces (the oldest are released as they are) and
    ``max_rows`` rows per trace; a root open for longer than ``max_age_s`` does not hold rows
    back (:meth:`release_stale`). Released rows go into a batch's writes. :attr:`by_trace` is
    truthy while rows wait (the mapping loop checks it per root span without a call).
    """

    def __init__(
        self, max_traces: int = 10_000, max_rows: int = 1_000, max_age_s: float = 30.0
    ) -> None:
        self.max_traces = max_traces
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.by_trace: OrderedDict[str, _Waiting] = OrderedDict()

    def park(self, trace_id: str, ledger: RunLedger, row: list[str], writes: BatchWrites) -> None:
        """Hold ``row`` for the trace's root (releasing into ``writes`` what exceeds a bound)."""
        waiting = self.by_trace.get(trace_id)
        if waiting is None:
            waiting = self.by_trace[trace_id] = _Waiting(time.monotonic())
            if len(self.by_trace) > self.max_traces:
                _, oldest = self.by_trace.popitem(last=False)
                add_rows(writes, oldest.rows)
        waiting.rows.append((ledger, row))
        if len(waiting.rows) >= self.max_rows:
            add_rows(writes, waiting.rows)
            waiting.rows = []

    def release(
        self, trace_id: str, root_attrs: dict[str, Any] | None, writes: BatchWrites
    ) -> None:
        """The root arrived: its input (when it is not an LLM call) is the rows' input."""
        waiting = self.by_trace.pop(trace_id, None)
        if waiting is None:
            return
        user_input = root_attrs.get(INPUT_VALUE) if root_attrs else None
        if user_input is not None and user_input != "":
            text = user_input if isinstance(user_input, str) else json.dumps(user_input)
            for _, row in waiting.rows:
                row[INPUTS_INDEX] = text
        add_rows(writes, waiting.rows)

    def release_stale(self, writes: BatchWrites) -> None:
        """Release, with the calls' own input, the rows waiting longer than ``max_age_s``."""
        horizon = time.monotonic() - self.max_age_s
        while self.by_trace:
            trace_id, waiting = next(iter(self.by_trace.items()))
            if waiting.since > horizon:
                return
            del self.by_trace[trace_id]
            add_rows(writes, waiting.rows)

    def release_all(self, writes: BatchWrites) -> None:
        """Release every waiting row with the call's own input (exit, disable)."""
        while self.by_trace:
            _, waiting = self.by_trace.popitem(last=False)
            add_rows(writes, waiting.rows)

    def clear(self) -> None:
        """Forget the waiting rows (their runs are gone, or are the parent process's)."""
        self.by_trace.clear()
