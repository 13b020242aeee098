"""``ServerSpanExporter``: autolog's exporter, which lets a spanrun server map the spans.

With the tracking URI on a ``spanrun server`` and the ``otlp`` transport (the default), each
batch is one OTLP/HTTP protobuf request to the server's ``/v1/traces``; the server's own
``RunExporter`` maps it (runs, metrics, prediction rows, traces) and answers once it is stored.
Anywhere else (a local store, a stock MLflow server, the ``rest`` transport) the batch is
mapped here by the wrapped ``RunExporter``, and a spanrun server gets it as one REST export
batch. The OTLP bytes are written by ``_otlp_encode`` (no extra needed).

The default is ``otlp``, as measured with ``benchmarks/autolog_server.py`` (10,000 LLM spans,
2 loaded CPUs, medians of 4 rounds, three runs): the client's CPU per call 158-180 us against
175-197 us for ``rest`` (the span is encoded, ~40 us, instead of mapped here), the server's
224-256 us against 239-278 us, end to end 860-1,750 spans/s against 1,170-1,730 (each OTLP
batch waits for the server's commit, REST batches overlap with the next mapping: ``rest`` was
ahead under load), one request per batch against 0.8 (REST merges batches waiting for the
writer).

What the server needs to map the spans as this process would is sent along:

- each span's run stamp (``spanrun.run_id``, put on by ``RunStampingProcessor`` from the
  active run): calls inside ``start_run`` go to that run;
- resource attributes: ``spanrun.process`` (this process: the server keeps one session run per
  sender process, whichever of its workers receives the batch), ``spanrun.experiment_id`` (the
  current experiment, for spans outside a run), ``spanrun.run_mode`` and ``spanrun.user`` (the
  user id of the runs made for it).

At exit (:meth:`finish_open_runs`) the session runs the server made for this process are ended
FINISHED through the REST API, as a local session run is.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanrun.core.entities import RunStatus
from spanrun.core.process import PROCESS_TAG, current_process_tag
from spanrun.core.semconv import SPANRUN_EXPERIMENT_ID
from spanrun.errors import InvalidInputError
from spanrun.exporters._otlp_encode import encode_request
from spanrun.exporters._run_exporter import RunExporter
from spanrun.exporters._runs import current_experiment_id, current_user, session_run_key
from spanrun.store.base import RUN_KEY_TAG

__all__ = [
    "TRANSPORTS",
    "TRANSPORT_ENV",
    "OtlpRunSink",
    "ServerSpanExporter",
    "Transport",
    "transport_setting",
]

_log = logging.getLogger(__name__)

Transport = Literal["otlp", "rest"]
#: ``otlp``: spans go to a spanrun server as OTLP, mapped there; ``rest``: mapped in this
#: process, sent as REST export batches.
TRANSPORTS: tuple[str, ...] = ("otlp", "rest")
#: The environment variable choosing the transport (``autolog(server_transport=...)`` wins).
TRANSPORT_ENV = "SPANRUN_AUTOLOG_TRANSPORT"
DEFAULT_TRANSPORT: Transport = "otlp"  # measured: see the module doc
RUN_MODE_ATTRIBUTE = "spanrun.run_mode"  # as spanrun.server.otlp reads them
USER_ATTRIBUTE = "spanrun.user"


@runtime_checkable
class OtlpRunSink(Protocol):
    """A store that can take OTLP spans and map them itself (``RestStore`` on a spanrun
    server)."""

    def maps_otlp_spans(self) -> bool:
        """True when spans sent with :meth:`send_otlp_traces` are mapped into runs."""
        ...

    def send_otlp_traces(self, body: bytes) -> None:
        """Send one OTLP/HTTP protobuf request; returns once the spans are stored."""
        ...


def transport_setting(value: str | None = None) -> Transport:
    """``value``, else ``SPANRUN_AUTOLOG_TRANSPORT``, else ``"otlp"``; checked."""
    chosen = (value or os.environ.get(TRANSPORT_ENV, "") or DEFAULT_TRANSPORT).strip().lower()
    if chosen not in TRANSPORTS:
        where = "server_transport" if value else TRANSPORT_ENV
        raise InvalidInputError(f"{where} must be one of {TRANSPORTS}, got {chosen!r}")
    return chosen  # type: ignore[return-value]  # checked above


class ServerSpanExporter(SpanExporter):
    """Sends each batch to a spanrun server as OTLP, or maps it here (see the module doc).

    Args:
        mapper: the ``RunExporter`` that maps batches in this process (and whose store,
            resolved per batch, says where spans go).
        transport: ``"otlp"`` or ``"rest"`` (see :func:`transport_setting`).
    """

    def __init__(self, mapper: RunExporter, transport: Transport = DEFAULT_TRANSPORT) -> None:
        self.mapper = mapper
        self.transport: Transport = transport
        self._lock = threading.Lock()
        # (store, experiment_id, service name) of the session runs the server keeps for us.
        self._server_sessions: set[tuple[Any, str, str]] = set()
        self._warned: set[str] = set()
        self._dropped = 0
        self._requests = 0
        self._user = current_user()

    @property
    def dropped_spans(self) -> int:
        """Spans a server refused or could not be sent (the mapper counts its own)."""
        return self._dropped + self.mapper.dropped_spans

    @property
    def otlp_requests(self) -> int:
        """OTLP requests sent so far (one per batch)."""
        return self._requests

    def _sink(self, store: Any) -> OtlpRunSink | None:
        if self.transport != "otlp" or not isinstance(store, OtlpRunSink):
            return None
        try:
            return store if store.maps_otlp_spans() else None
        except Exception:  # the server is unreachable: the mapper's retries and counts apply
            return None

    # -- SpanExporter ------------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans`` to the server as OTLP, or map them here; never raises."""
        try:
            store = self.mapper.current_store()
            sink = self._sink(store)
        except Exception:
            sink = None
        if sink is None:
            return self.mapper.export(spans)
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            body = self._encode(spans, store)
            sink.send_otlp_traces(body)
            self._requests += 1
            return SpanExportResult.SUCCESS
        except Exception as exc:
            self._dropped += len(spans)
            self._warn_once(
                type(exc).__name__,
                f"spanrun: the spanrun server did not take {len(spans)} spans ({exc}); they "
                "are lost (your program is not affected)",
            )
            return SpanExportResult.FAILURE
        finally:
            detach(token)

    def _encode(self, spans: Sequence[ReadableSpan], store: Any) -> bytes:
        """The OTLP request, each resource with this process's attributes added."""
        experiment_id = current_experiment_id()
        run_mode = self.mapper.run_mode
        added = {
            PROCESS_TAG: current_process_tag(),
            SPANRUN_EXPERIMENT_ID: experiment_id,
            RUN_MODE_ATTRIBUTE: run_mode,
            USER_ATTRIBUTE: self._user,
        }
        if run_mode == "session":
            services = {
                str((span.resource.attributes if span.resource else {}).get("service.name") or "")
                or "unknown_service"
                for span in spans
            }
            with self._lock:
                self._server_sessions.update((store, experiment_id, name) for name in services)
        return encode_request(spans, added)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """OTLP batches are stored when ``export`` returns; the mapper's are flushed here."""
        return self.mapper.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """End the runs this process opened, here and on the server."""
        self.mapper.shutdown()
        self._end_server_sessions()

    # -- runs --------------------------------------------------------------------------------
    def finish_open_runs(self) -> None:
        """End this process's session runs (FINISHED): the mapper's, and those a spanrun server
        made for the spans sent to it."""
        self.mapper.finish_open_runs()
        self._end_server_sessions()

    def _end_server_sessions(self) -> None:
        with self._lock:
            sessions, self._server_sessions = self._server_sessions, set()
        process = current_process_tag()
        for store, experiment_id, service in sessions:
            key = session_run_key(experiment_id, service, process)
            try:
                runs = store.search_runs(
                    [experiment_id],
                    filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}' and "
                    "attributes.status = 'RUNNING'",
                    max_results=10,
                )
                for run in runs:
                    store.update_run_info(
                        run.info.run_id,
                        status=RunStatus.FINISHED.value,
                        end_time=_now_ms(),
                    )
            except Exception as exc:
                self._warn_once(
                    "end",
                    f"spanrun: could not end the session run on the spanrun server ({exc})",
                )

    def _warn_once(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        _log.warning(message)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
