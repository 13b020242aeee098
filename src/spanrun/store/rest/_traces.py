"""Spans, traces and export batches over the REST store.

A spanrun server takes them on its own routes (``/api/2.0/spanrun/...``): an export batch is one
request (every run's metrics, params, tags and LLM calls, and the spans), bodies are split under
a size limit. A stock MLflow server gets an export batch as MLflow calls (``Store``'s default),
and spans through its OpenTelemetry route ``/v1/traces`` (MLflow traces of the span's
experiment and run); spanrun's trace reads find nothing there. Either way one warning says so.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from spanrun.core.entities import PagedList, SpanRecord, Trace, TraceInfo
from spanrun.errors import InvalidInputError, NotFoundError, StoreError
from spanrun.store._llm_calls import checked_calls, unpack_run_batch
from spanrun.store.base import RunBatch, Store, TraceFilter
from spanrun.store.rest import _otlp_json
from spanrun.store.rest._base import SPANRUN, RestBase
from spanrun.store.rest._ui_reads import trace_filter_json
from spanrun.store.rest._wire import (
    float_to_json,
    span_from_json,
    span_to_json,
    trace_info_from_json,
)

__all__ = ["TraceMethods"]

# One logger for the store's warnings (``spanrun.store.rest``).
_log = logging.getLogger("spanrun.store.rest")

_SPANS_PER_REQUEST = 1000
# Bodies of spans and export batches are split above this (a spanrun server takes 32 MB).
_MAX_REQUEST_BYTES = 8 * 1024 * 1024


class TraceMethods(RestBase):
    """``log_spans``, ``get_trace``, ``search_traces`` and ``log_export_batch``."""

    def _warn_spans_once(self, what: str) -> None:
        with self._kind_lock:
            if self._warned_spans:
                return
            self._warned_spans = True
        _log.warning(
            "spanrun: the tracking server at %s is not a spanrun server, so spanrun's trace "
            "store is not there: %s. Runs, metrics, params, tags and artifacts are logged "
            "as usual. Run `spanrun server` to keep traces.",
            self.tracking_uri,
            what,
        )

    # -- traces ----------------------------------------------------------------------------
    def log_spans(self, spans: Sequence[SpanRecord]) -> None:
        if not spans:
            return
        if self.server_kind() == "spanrun":
            self._post_spans(_span_chunks(_encoded_spans(spans), _MAX_REQUEST_BYTES))
            return
        self._log_spans_to_mlflow(spans)

    # -- OTLP to a spanrun server (autolog's default there) ----------------------------------
    def maps_otlp_spans(self) -> bool:
        """True when the server maps OTLP spans into runs itself (a spanrun server)."""
        return self.server_kind() == "spanrun"

    def send_otlp_traces(self, body: bytes) -> None:
        """POST an OTLP/HTTP protobuf request to the spanrun server's ``/v1/traces``.

        The server answers once the spans are stored (mapped into runs by its own
        ``RunExporter``); connection errors, 429 and 503 are retried as every request is.
        Raises the server's refusal as a ``spanrun.errors`` exception.
        """
        self._http.request(
            "POST",
            _otlp_json.OTLP_TRACES_PATH,
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        )

    def _post_spans(self, chunks: Sequence[list[bytes]]) -> None:
        for chunk in chunks:
            content = b'{"spans":[' + b",".join(chunk) + b"]}"
            self._http.call("POST", f"{SPANRUN}/spans/log", content=content)

    def _log_spans_to_mlflow(self, spans: Sequence[SpanRecord]) -> None:
        """Spans as OTLP/JSON to MLflow's ``/v1/traces``, one request per experiment and run."""
        if not self._mlflow_takes_otlp:
            return  # said once already
        for (experiment_id, run_id), group in _otlp_json.by_experiment_and_run(spans).items():
            headers = {_otlp_json.EXPERIMENT_HEADER: experiment_id}
            if run_id:
                headers[_otlp_json.RUN_HEADER] = run_id
            try:
                content = _otlp_json.encode(group)
            except orjson.JSONEncodeError as exc:  # text without a UTF-8 form
                self._warn_spans_once(f"spans that cannot be sent as JSON were left out ({exc})")
                continue
            response = self._http.send(
                "POST",
                _otlp_json.OTLP_TRACES_PATH,
                content=content,
                headers={**headers, "Content-Type": "application/json"},
            )
            if response.status_code in (404, 405, 501):  # an MLflow before 3, or a proxy
                self._mlflow_takes_otlp = False
                self._warn_spans_once(
                    f"it does not take OpenTelemetry traces at {_otlp_json.OTLP_TRACES_PATH} "
                    f"(HTTP {response.status_code}), so spans are not stored"
                )
                return
            if response.status_code >= 300:
                # MLflow refused these spans (e.g. a shape it cannot convert): the runs'
                # metrics are what matters here; say so once rather than fail the batch.
                self._warn_spans_once(
                    f"its {_otlp_json.OTLP_TRACES_PATH} route refused spans (HTTP "
                    f"{response.status_code}: {response.text[:200]!r})"
                )
                continue
        self._warn_spans_once(
            f"spans go to MLflow's own trace store through {_otlp_json.OTLP_TRACES_PATH} "
            "(see them in MLflow's Traces tab; spanrun's get_trace and search_traces return "
            "nothing there)"
        )

    def get_trace(self, trace_id: str) -> Trace:
        if self.server_kind() != "spanrun":
            self._warn_spans_once("get_trace finds nothing")
            raise NotFoundError(
                f"Trace {trace_id!r} not found: the MLflow server at {self.tracking_uri} has no "
                "spanrun trace store"
            )
        answer = self._http.call("GET", f"{SPANRUN}/traces/get", params={"trace_id": trace_id})
        try:
            trace = answer["trace"]
            return Trace(
                info=trace_info_from_json(trace["info"]),
                spans=tuple(span_from_json(s) for s in trace.get("spans") or ()),
            )
        except (KeyError, TypeError) as exc:
            raise StoreError(f"The tracking server sent a malformed trace ({exc!r})") from None

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        trace_filter: TraceFilter | None = None,
    ) -> PagedList[TraceInfo]:
        if self.server_kind() != "spanrun":
            self._warn_spans_once("search_traces finds nothing")
            return PagedList([], None)
        body = {
            "experiment_ids": list(experiment_ids) if experiment_ids is not None else None,
            "run_id": run_id,
            "max_results": max_results,
            "order_by": list(order_by) if order_by else None,
            "page_token": page_token,
            **trace_filter_json(trace_filter),
        }
        answer = self._search(f"{SPANRUN}/traces/search", body)
        return PagedList(
            [trace_info_from_json(t) for t in answer.get("traces") or ()],
            answer.get("next_page_token") or None,
        )

    # -- export batches --------------------------------------------------------------------
    def log_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> dict[str, str]:
        """One request to a spanrun server; MLflow's log-batch calls (and ``/v1/traces``) to
        a stock MLflow server (``Store.log_export_batch``)."""
        return self.prepare_export_batch(runs, spans)()

    def prepare_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> Callable[[], dict[str, str]]:
        """Encode the batch now (the exporter's mapping thread), send it when called."""
        if self.server_kind() != "spanrun":
            return functools.partial(Store.log_export_batch, self, runs, spans)
        try:
            runs_json = orjson.dumps({rid: _run_batch_json(rid, b) for rid, b in runs.items()})
        except orjson.JSONEncodeError as exc:
            raise InvalidInputError(f"An export batch cannot be sent as JSON: {exc}") from None
        # Spans beyond what fits under the request size limit follow in spans/log requests.
        room = max(_MAX_REQUEST_BYTES - len(runs_json), _MAX_REQUEST_BYTES // 4)
        chunks = _span_chunks(_encoded_spans(spans), room)
        first = chunks[0] if chunks else []
        content = b'{"runs":' + runs_json + b',"spans":[' + b",".join(first) + b"]}"

        def send() -> dict[str, str]:
            answer = self._http.call("POST", f"{SPANRUN}/runs/log-export-batch", content=content)
            self._post_spans(chunks[1:])
            skipped = answer.get("skipped") or {}
            return {str(k): str(v) for k, v in skipped.items()}

        return send


def _encoded_spans(spans: Sequence[SpanRecord]) -> list[bytes]:
    try:
        return [orjson.dumps(span_to_json(s), default=str) for s in spans]
    except orjson.JSONEncodeError as exc:  # e.g. a lone surrogate, which has no UTF-8 form
        raise InvalidInputError(f"A span cannot be sent as JSON: {exc}") from None


def _span_chunks(encoded: list[bytes], max_bytes: int) -> list[list[bytes]]:
    """Encoded spans in groups of at most ``_SPANS_PER_REQUEST`` and about ``max_bytes`` (a
    span larger than that goes alone)."""
    chunks: list[list[bytes]] = []
    chunk: list[bytes] = []
    size = 0
    for item in encoded:
        if chunk and (size + len(item) > max_bytes or len(chunk) >= _SPANS_PER_REQUEST):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        chunks.append(chunk)
    return chunks


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return float_to_json(value)
    return value


def _run_batch_json(run_id: str, batch: RunBatch) -> dict[str, Any]:
    metrics, params, tags, calls = unpack_run_batch(batch)
    out: dict[str, Any] = {
        "metrics": [[k, float_to_json(float(v)), ts, step] for k, v, ts, step in metrics],
        "params": {k: str(v) for k, v in params.items()},
        "tags": {k: str(v) for k, v in tags.items()},
    }
    if calls:
        out["calls"] = [[_json_number(v) for v in row] for row in checked_calls(run_id, calls)]
    return out
