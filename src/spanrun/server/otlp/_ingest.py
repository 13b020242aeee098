"""The ingest queue: decoded OTLP requests -> ReadableSpans -> one ``RunExporter``, acked once
committed.

One thread takes the queued requests (several at once: up to ``max_group_spans`` spans),
converts them, maps them with the receiver's ``RunExporter`` and waits until that write has
committed (``force_flush``); only then is each request's future resolved, so a 200 means the
spans are in the store (and a server killed before answering leaves its sender to retry).
Backpressure: the queue holds at most ``max_queued_spans`` spans (queued or in flight); a
request that does not fit is not taken (the caller answers 503 with Retry-After). A group the
store failed to write fails with :class:`StoreUnavailable` (503: the sender retries; nothing
of it was committed, and ``CountedCalls`` keeps a retry from counting calls twice).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from spanrun.errors import InvalidInputError
from spanrun.exporters import PricesArg, PriceTable, RunExporter, RunMode
from spanrun.server.otlp._counted import CountedCalls
from spanrun.server.otlp._decode import OtlpRequestError
from spanrun.server.otlp._experiments import EXPERIMENT_NAME_ATTRIBUTE, ExperimentChooser
from spanrun.server.otlp._spans import UNKNOWN_SERVICE, Converted, to_readable_spans
from spanrun.store import Store

__all__ = ["Ingest", "IngestResult", "StoreUnavailable", "span_count"]

_log = logging.getLogger(__name__)
_FLUSH_WAIT_MS = 5_000  # force_flush is asked again until the write is done (or closing)


class StoreUnavailable(Exception):
    """The store did not take the spans (or the receiver is closing): send them again later."""


@dataclass(frozen=True)
class IngestResult:
    """What became of one request's spans: all taken but ``rejected`` (with a message)."""

    rejected: int = 0
    message: str = ""


@dataclass
class _Item:
    request: ExportTraceServiceRequest
    span_count: int
    experiment: str | None  # the header's choice (name or id)
    future: Future[IngestResult]
    converted: Converted | None = None


def span_count(request: ExportTraceServiceRequest) -> int:
    """The number of spans in a request (cheap: no span is converted)."""
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


class Ingest:
    """One ``RunExporter`` fed from a bounded queue by one thread (see the module doc).

    Args:
        store: where runs, metrics, prediction rows and traces go.
        run_mode: for spans without a stamped run: ``"session"`` (one run per sender's
            ``service.name`` and experiment), ``"trace"`` or ``"none"``.
        prices: model prices for ``llm.cost_usd`` (as ``RunExporter`` takes them).
        max_queued_spans: spans queued or in flight at most; beyond it requests are refused.
        max_group_spans: spans mapped and written together at most (one transaction).
        clock_skew_s: see ``CountedCalls``.
    """

    def __init__(
        self,
        store: Store,
        *,
        run_mode: RunMode = "session",
        prices: PriceTable | PricesArg = None,
        max_queued_spans: int = 16_384,
        max_group_spans: int = 4_096,
        clock_skew_s: float = 10.0,
    ) -> None:
        self.store = store
        self.max_queued_spans = max_queued_spans
        self._max_group = max_group_spans
        self._experiments = ExperimentChooser(store)
        self._counted = CountedCalls(store, clock_skew_s=clock_skew_s)
        # id(resource) -> (service name, experiment id) of the group being exported.
        self._origins: dict[int, tuple[str, str | None]] = {}
        self._warned: set[str] = set()
        self.exporter = RunExporter(
            store, run_mode=run_mode, prices=prices, span_source=self._source
        )
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._queued = 0  # spans queued or in flight
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="spanrun-otlp-ingest", daemon=True)
        self._thread.start()

    # -- callers (event loop, gRPC threads) ---------------------------------------------------
    def submit(
        self, request: ExportTraceServiceRequest, experiment: str | None = None
    ) -> Future[IngestResult] | None:
        """Queue a request's spans; None when the queue cannot take them now (retry later).

        A request larger than the whole queue is taken when the queue is empty.
        """
        count = span_count(request)
        future: Future[IngestResult] = Future()
        with self._cond:
            if self._closing:
                return None
            if self._queued and self._queued + count > self.max_queued_spans:
                return None
            self._queued += count
            self._queue.append(_Item(request, count, experiment, future))
            self._cond.notify()
        return future

    @property
    def queued_spans(self) -> int:
        """Spans queued or in flight."""
        return self._queued

    def close(self) -> None:
        """Write what is queued, end the session runs (FINISHED) and stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self.exporter.finish_open_runs()
        self.exporter.shutdown()

    # -- the ingest thread ----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return  # closing, nothing left
                group = [self._queue.popleft()]
                size = group[0].span_count
                while self._queue and size + self._queue[0].span_count <= self._max_group:
                    item = self._queue.popleft()
                    group.append(item)
                    size += item.span_count
            try:
                self._ingest([item for item in group if item.future.set_running_or_notify_cancel()])
            except Exception as exc:  # a bug of ours: the senders retry, nothing is lost
                _log.exception("spanrun: OTLP ingest failed; the senders are told to retry")
                for item in group:
                    if not item.future.done():
                        item.future.set_exception(StoreUnavailable(f"ingest failed: {exc}"))
            finally:
                with self._cond:
                    self._queued -= size

    def _ingest(self, group: list[_Item]) -> None:
        ready: list[_Item] = []
        spans: list[ReadableSpan] = []
        for item in group:
            try:
                item.converted = converted = to_readable_spans(item.request)
                self._choose_experiments(item, converted)
            except InvalidInputError as exc:
                item.future.set_exception(OtlpRequestError(400, str(exc)))
                continue
            except Exception as exc:  # the store, asked for the experiment
                item.future.set_exception(StoreUnavailable(f"the store is unavailable: {exc}"))
                continue
            ready.append(item)
            spans += converted.spans
        if not ready:
            return
        try:
            ok, refused = self._export(spans)
        finally:
            self._origins.clear()
        if not ok:
            error = StoreUnavailable("the store did not take the spans; send them again")
            for item in ready:
                item.future.set_exception(error)
            return
        for item in ready:
            done = item.converted
            assert done is not None
            # Refusals by the store are not told per request: charged to the first requests.
            mine = min(refused, len(done.spans))
            refused -= mine
            rejected = done.rejected + mine
            problems = list(done.problems)
            if mine:
                problems.append(f"{mine} spans refused by the store (see the server log)")
            item.future.set_result(IngestResult(rejected, "; ".join(problems)))

    def _export(self, spans: list[ReadableSpan]) -> tuple[bool, int]:
        """Map and write ``spans`` (calls already counted left out), waiting for the commit.

        Returns (written, spans refused for what they hold).
        """
        fresh, calls = self._counted.fresh(spans)
        if not fresh:
            return True, 0
        exporter = self.exporter
        dropped, refused = exporter.dropped_spans, exporter.refused_spans
        result = exporter.export(fresh)
        while not exporter.force_flush(_FLUSH_WAIT_MS):
            # Not answered until known: answering 503 while the write may still commit would
            # let the retry count its calls twice (the retry waits in the queue meanwhile).
            _log.warning("spanrun: the store is slow; OTLP ingest waits for its write")
        refused = exporter.refused_spans - refused
        failed = exporter.dropped_spans - dropped - refused
        if result is not SpanExportResult.SUCCESS or failed > 0:
            return False, 0
        self._counted.remember(calls)
        return True, refused

    def _choose_experiments(self, item: _Item, converted: Converted) -> None:
        """The experiment of each resource's spans: its ``spanrun.experiment_name``
        attribute, else the request's header, else None (the server's current one)."""
        for origin in converted.origins:
            named = origin.resource.attributes.get(EXPERIMENT_NAME_ATTRIBUTE)
            chosen = str(named) if named not in (None, "") else item.experiment
            experiment = self._experiments.experiment_id(chosen) if chosen else None
            self._origins[id(origin.resource)] = (origin.service_name, experiment)

    def _source(self, span: ReadableSpan, attributes: Mapping[str, Any]) -> tuple[str, str | None]:
        """``RunExporter``'s span source: the sender's service and experiment; a span's own
        ``spanrun.experiment_name`` attribute wins."""
        service, experiment = self._origins.get(id(span.resource), (UNKNOWN_SERVICE, None))
        named = attributes.get(EXPERIMENT_NAME_ATTRIBUTE)
        if named not in (None, ""):
            try:
                experiment = self._experiments.experiment_id(str(named))
            except Exception as exc:
                key = str(named)[:100]
                if key not in self._warned and len(self._warned) < 1_000:
                    self._warned.add(key)
                    _log.warning("spanrun: spans name experiment %r: %s; not used", key, exc)
        return service, experiment
