"""The ingest queue: decoded OTLP requests -> ReadableSpans -> one ``RunExporter``, acked once
committed.

One thread takes the queued requests (several at once: up to ``max_group_spans`` spans),
converts them and hands them to the receiver's ``RunExporter`` with an ``on_written``
callback; it goes on with the next group while the exporter's writer thread commits this one.
Only when the callback says the group committed is each request's future resolved, so a 200
means the spans are in the store (a server killed before answering leaves its sender to
retry). Backpressure: the queue holds at most ``max_queued_spans`` spans, queued or not yet
committed; a request that does not fit is not taken (the caller answers 503 with Retry-After);
the exporter itself makes this thread wait while a full batch waits for its writer. A group
the store failed to write fails with :class:`StoreUnavailable` (503: the sender retries;
``CountedCalls`` keeps a retry from counting calls twice).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from opentelemetry.sdk.trace import ReadableSpan

from spanrun.core.process import PROCESS_TAG
from spanrun.core.semconv import SPANRUN_EXPERIMENT_ID
from spanrun.errors import InvalidInputError
from spanrun.exporters import PricesArg, PriceTable, RunExporter, RunMode, SpanOrigin
from spanrun.server.otlp._counted import CountedCalls, Ticket
from spanrun.server.otlp._decode import OtlpRequestError
from spanrun.server.otlp._experiments import EXPERIMENT_NAME_ATTRIBUTE, ExperimentChooser
from spanrun.server.otlp._spans import UNKNOWN_SERVICE, Converted, to_readable_spans
from spanrun.store import Store

__all__ = [
    "RUN_MODE_ATTRIBUTE",
    "Ingest",
    "IngestResult",
    "StoreUnavailable",
    "sender_origin",
    "span_count",
]

_log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The store did not take the spans (or the receiver is closing): send them again later."""


@dataclass(frozen=True)
class IngestResult:
    """What became of one request's spans: all taken but ``rejected`` (with a message)."""

    rejected: int = 0
    message: str = ""


@dataclass
class _Item:
    request: Message  # ExportTraceServiceRequest or _wire.WireRequest
    span_count: int
    experiment: str | None  # the header's choice (name or id)
    future: Future[IngestResult]
    converted: Converted | None = None
    waits_for: frozenset[Ticket] = frozenset()  # earlier writes holding copies of its spans


class _Release:
    """Gives a group's spans back to the queue's budget, once."""

    def __init__(self, ingest: Ingest, size: int) -> None:
        self._ingest: Ingest | None = ingest
        self._size = size

    def __call__(self) -> None:
        ingest, self._ingest = self._ingest, None
        if ingest is not None:
            ingest._release(self._size)


def span_count(request: Message) -> int:
    """The number of spans in a request (cheap: no span is converted)."""
    resource_spans: Any = request.resource_spans  # type: ignore[attr-defined]
    return sum(len(ss.spans) for rs in resource_spans for ss in rs.scope_spans)


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
        clock_skew_s: float = 5.0,
    ) -> None:
        self.store = store
        self.max_queued_spans = max_queued_spans
        self._max_group = max_group_spans
        self._experiments = ExperimentChooser(store)
        self._counted = CountedCalls(store, clock_skew_s=clock_skew_s)
        # id(resource) -> where the spans of that resource come from, for the group being
        # exported.
        self._origins: dict[int, SpanOrigin] = {}
        self._warned: set[str] = set()
        # No GIL hand-overs while mapping: this thread's batch is what the others wait for.
        self.exporter = RunExporter(
            store,
            run_mode=run_mode,
            prices=prices,
            span_source=self._source,
            yield_every_s=None,
        )
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._queued = 0  # spans queued or in flight
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="spanrun-otlp-ingest", daemon=True)
        self._thread.start()

    # -- callers (event loop, gRPC threads) ---------------------------------------------------
    def submit(
        self, request: Message, experiment: str | None = None
    ) -> Future[IngestResult] | None:
        """Queue a request's spans (an ``ExportTraceServiceRequest``, or the ``WireRequest``
        that ``decode_request`` gives); None when the queue cannot take them now (retry later).

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
        self.exporter.finish_open_runs()  # waits for the writes (their callbacks run)
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
            done = _Release(self, size)
            try:
                taken = [item for item in group if item.future.set_running_or_notify_cancel()]
                self._ingest(taken, done)
            except Exception as exc:  # a bug of ours: the senders retry, nothing is lost
                _log.exception("spanrun: OTLP ingest failed; the senders are told to retry")
                for item in group:
                    if not item.future.done():
                        item.future.set_exception(StoreUnavailable(f"ingest failed: {exc}"))
                done()

    def _release(self, size: int) -> None:
        with self._cond:
            self._queued -= size

    def _ingest(self, group: list[_Item], done: _Release) -> None:
        """Convert and export ``group``; ``done`` is called once its requests are answered."""
        ready: list[_Item] = []
        spans: list[ReadableSpan] = []
        ticket = Ticket()
        for item in group:
            try:
                item.converted = converted = to_readable_spans(item.request)
                self._choose_experiments(item, converted)
                keep, waits_for = self._counted.fresh(converted.spans, ticket)
            except InvalidInputError as exc:
                item.future.set_exception(OtlpRequestError(400, str(exc)))
                continue
            except Exception as exc:  # the store, asked for the experiment or the spans
                item.future.set_exception(StoreUnavailable(f"the store is unavailable: {exc}"))
                continue
            item.waits_for = frozenset(waits_for)
            ready.append(item)
            spans += keep

        def written(ok: bool) -> None:  # on the exporter's writer thread
            if ticket.ok is not None:
                return  # told already
            self._counted.settle(ticket, ok)
            for item in ready:
                converted = item.converted
                assert converted is not None
                if ok and all(earlier.ok for earlier in item.waits_for):
                    result = IngestResult(converted.rejected, "; ".join(converted.problems))
                    item.future.set_result(result)
                else:
                    item.future.set_exception(
                        StoreUnavailable("the store did not take the spans; send them again")
                    )
            done()

        if not ready:
            done()
            return
        try:
            # Also when nothing is left to map: the answer then follows the earlier writes.
            self.exporter.export(spans, on_written=written)
        finally:
            self._origins.clear()

    def _choose_experiments(self, item: _Item, converted: Converted) -> None:
        """Where each resource's spans come from (see ``sender_origin``)."""
        for origin in converted.origins:
            self._origins[id(origin.resource)] = sender_origin(
                origin.service_name, origin.resource.attributes, item.experiment, self._experiments
            )

    def _source(self, span: ReadableSpan, attributes: Mapping[str, Any]) -> SpanOrigin:
        """``RunExporter``'s span source: the sender (see ``sender_origin``); a span's own
        ``spanrun.experiment_name`` attribute chooses its experiment."""
        origin = self._origins.get(id(span.resource)) or SpanOrigin(UNKNOWN_SERVICE)
        experiment = origin.experiment_id
        named = attributes.get(EXPERIMENT_NAME_ATTRIBUTE)
        if named not in (None, ""):
            try:
                experiment = self._experiments.experiment_id(str(named))
            except Exception as exc:
                key = str(named)[:100]
                if key not in self._warned and len(self._warned) < 1_000:
                    self._warned.add(key)
                    _log.warning("spanrun: spans name experiment %r: %s; not used", key, exc)
            else:
                return dataclasses.replace(origin, experiment_id=experiment)
        return origin


#: Resource attributes autolog adds when it sends spans to a spanrun server (see
#: ``spanrun.exporters.ServerSpanExporter``): its run mode, and its current experiment's id.
RUN_MODE_ATTRIBUTE = "spanrun.run_mode"
USER_ATTRIBUTE = "spanrun.user"
SERVICE_INSTANCE_ID = "service.instance.id"


def sender_origin(
    service: str,
    attributes: Mapping[str, Any],
    header_experiment: str | None,
    experiments: ExperimentChooser,
) -> SpanOrigin:
    """Where a resource's spans come from.

    - experiment: the resource's ``spanrun.experiment_name``, else its ``spanrun.experiment_id``
      (autolog's current experiment), else the request's header, else None (the server's
      Default experiment);
    - instance, which keys the sender's session run: its ``spanrun.process`` (autolog: one
      session run per process), else ``service.instance.id``, else none (one session run per
      service name and experiment, whichever worker of the server receives the spans);
    - run mode: the resource's ``spanrun.run_mode`` (autolog's), else the server's;
    - user (of the runs made for it): the resource's ``spanrun.user``, else the server's.
    """
    named = attributes.get(EXPERIMENT_NAME_ATTRIBUTE)
    by_id = attributes.get(SPANRUN_EXPERIMENT_ID)
    if named not in (None, ""):
        experiment: str | None = experiments.experiment_id(str(named))
    elif by_id not in (None, ""):
        experiment = experiments.existing_id(str(by_id))
    elif header_experiment:
        experiment = experiments.experiment_id(header_experiment)
    else:
        experiment = None
    process = attributes.get(PROCESS_TAG)
    instance = process if process not in (None, "") else attributes.get(SERVICE_INSTANCE_ID)
    run_mode = attributes.get(RUN_MODE_ATTRIBUTE)
    user = attributes.get(USER_ATTRIBUTE)
    return SpanOrigin(
        service,
        experiment,
        str(instance) if instance not in (None, "") else None,
        str(run_mode) if run_mode not in (None, "") else None,
        str(process)[:500] if process not in (None, "") else None,
        str(user)[:256] if user not in (None, "") else None,
    )
