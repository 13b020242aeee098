"""RestStore: the Store interface over MLflow's REST API 2.0 (a spanrun or a stock MLflow server).

Experiments, runs, params, metrics, tags and searches use MLflow's routes, which both servers
serve. Spans, traces and export batches use spanrun's own routes (``/api/2.0/spanrun/...``)
when the server says it is a spanrun server (``GET /api/2.0/spanrun/server-info``, asked once);
a stock MLflow server gets an export batch as log-batch calls, and spans through its OpenTelemetry
route ``/v1/traces`` (MLflow traces of the span's experiment and run), or, where that route is
missing, not at all, with one warning. Artifacts are not the store's: run artifact URIs
(``mlflow-artifacts:/...``) are served by ``spanrun.artifacts``' HTTP repository.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

import orjson

from spanrun.core.entities import (
    Experiment,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    SpanRecord,
    Trace,
    TraceInfo,
    ViewType,
)
from spanrun.core.text import bad_character, describe_bad_character
from spanrun.errors import InvalidFilterError, InvalidInputError, NotFoundError, StoreError
from spanrun.store._common import run_info_values
from spanrun.store._llm_calls import checked_calls, unpack_run_batch
from spanrun.store._search_filter import Entity, parse_filter, parse_order_by
from spanrun.store.base import RunBatch, Store
from spanrun.store.rest import _otlp_json
from spanrun.store.rest._errors import error_from_response
from spanrun.store.rest._transport import Transport, TransportSettings
from spanrun.store.rest._wire import (
    experiment_from_json,
    float_to_json,
    metric_from_json,
    metric_row_to_json,
    metric_to_json,
    param_to_json,
    run_from_json,
    run_info_from_json,
    span_from_json,
    span_to_json,
    tags_to_json,
    trace_info_from_json,
    view_type_name,
)

__all__ = ["MAX_METRICS_PER_BATCH", "MAX_PARAMS_PER_BATCH", "MAX_TAGS_PER_BATCH", "RestStore"]

_log = logging.getLogger(__name__)

MLFLOW = "/api/2.0/mlflow"
SPANRUN = "/api/2.0/spanrun"
# MLflow's per-request limits of runs/log-batch (and 1000 items in all).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
_SPANS_PER_REQUEST = 1000
# Bodies of spans and export batches are split above this (a spanrun server takes 32 MB).
_MAX_REQUEST_BYTES = 8 * 1024 * 1024
ARTIFACTS_ENDPOINT = "/api/2.0/mlflow-artifacts/artifacts"  # MLflow's proxied artifacts API


def _check_base_url(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInputError(
            f"Invalid tracking server URI {uri!r} (expected http(s)://host:port)"
        )
    if parsed.query or parsed.fragment:
        raise InvalidInputError(
            f"Tracking server URI {uri!r}: a query string or fragment is not supported"
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInputError(f"Invalid port in tracking server URI {uri!r}") from None
    return uri.rstrip("/")


class RestStore(Store):
    """Tracking data on a server at ``tracking_uri`` (``http(s)://host:port[/prefix]``).

    One keep-alive connection pool per store; timeouts and bounded retries as in
    :mod:`spanrun.store.rest._transport`. ``artifact_root`` is unused: the server decides where
    artifacts go.
    """

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: str | None = None,
        settings: TransportSettings | None = None,
    ) -> None:
        self.tracking_uri = _check_base_url(tracking_uri.strip())
        self.artifact_root = artifact_root or ""
        self._http = Transport(self.tracking_uri, settings)
        self._kind_lock = threading.Lock()
        self._kind: str | None = None  # "spanrun" or "mlflow", once asked
        self._warned_spans = False
        self._mlflow_takes_otlp = True  # until its /v1/traces route is found missing

    def __repr__(self) -> str:
        return f"RestStore({self.tracking_uri!r})"

    def close(self) -> None:
        self._http.close()

    # -- which server ----------------------------------------------------------------------
    def server_kind(self) -> str:
        """``"spanrun"`` or ``"mlflow"`` (any server without spanrun's routes), asked once."""
        kind = self._kind
        if kind is None:
            with self._kind_lock:
                if self._kind is None:
                    self._kind = self._ask_server_kind()
                kind = self._kind
        return kind

    def _ask_server_kind(self) -> str:
        path = f"{SPANRUN}/server-info"
        response = self._http.send("GET", path)
        if response.status_code in (404, 405):  # no such route: not a spanrun server
            return "mlflow"
        if response.status_code >= 300:  # e.g. a wrong token: the caller should know
            raise error_from_response(response.status_code, response.content, "GET", path)
        try:
            info = response.json()
        except ValueError:
            return "mlflow"
        return "spanrun" if isinstance(info, dict) and info.get("server") == "spanrun" else "mlflow"

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

    # -- artifact locations ----------------------------------------------------------------
    def artifact_uri(self, uri: str) -> str:
        """A location the server gave, made self-contained: ``mlflow-artifacts:/<path>`` (which
        names "the current tracking server") becomes this server's artifacts endpoint URL, so
        that a run's files are found whatever the current tracking URI is (a client made with
        an explicit URI, ``runs:/`` URIs with a ``tracking_uri``). Other locations are kept."""
        if uri.startswith("mlflow-artifacts:/") and not uri.startswith("mlflow-artifacts://"):
            return f"{self.tracking_uri}{ARTIFACTS_ENDPOINT}/{uri[len('mlflow-artifacts:/') :]}"
        return uri

    def _experiment(self, item: Mapping[str, Any]) -> Experiment:
        exp = experiment_from_json(item)
        location = self.artifact_uri(exp.artifact_location)
        return (
            exp if location == exp.artifact_location else replace(exp, artifact_location=location)
        )

    def _run_info(self, item: Mapping[str, Any]) -> RunInfo:
        info = run_info_from_json(item)
        uri = self.artifact_uri(info.artifact_uri)
        return info if uri == info.artifact_uri else replace(info, artifact_uri=uri)

    def _run(self, item: Mapping[str, Any]) -> Run:
        run = run_from_json(item)
        uri = self.artifact_uri(run.info.artifact_uri)
        return (
            run
            if uri == run.info.artifact_uri
            else replace(run, info=replace(run.info, artifact_uri=uri))
        )

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[RunTag] = ()
    ) -> str:
        body: dict[str, Any] = {"name": name, "tags": tags_to_json(tags)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        answer = self._http.call("POST", f"{MLFLOW}/experiments/create", body=body)
        return str(answer["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        answer = self._http.call(
            "GET", f"{MLFLOW}/experiments/get", params={"experiment_id": experiment_id}
        )
        return self._experiment(answer["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            answer = self._http.call(
                "GET", f"{MLFLOW}/experiments/get-by-name", params={"experiment_name": name}
            )
        except NotFoundError:
            return None
        return self._experiment(answer["experiment"])

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        order_by = self._check_search("experiment", filter_string, order_by, max_results)
        body: dict[str, Any] = {"max_results": max_results, "view_type": view_type_name(view_type)}
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = order_by
        if page_token:
            body["page_token"] = page_token
        answer = self._search(f"{MLFLOW}/experiments/search", body)
        return PagedList(
            [self._experiment(e) for e in answer.get("experiments") or ()],
            answer.get("next_page_token") or None,
        )

    def _check_search(
        self,
        entity: Entity,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        max_results: int,
    ) -> list[str] | None:
        """Refuse a bad search before sending it, with the local stores' errors; the order_by
        clauses as a list. A spanrun server parses with the same grammar, so the whole filter is
        checked here (errors keep their ``position``); for an MLflow server, whose grammar is
        its own, only what cannot be sent is (text without a UTF-8 form)."""
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise InvalidInputError(
                f"Invalid value {max_results!r} for parameter 'max_results': it must be an integer"
            )
        if isinstance(order_by, str):
            order_by = [order_by]
        if self.server_kind() == "spanrun":
            parse_filter(filter_string, entity)
            parse_order_by(order_by, entity)
        else:
            if filter_string is not None and not isinstance(filter_string, str):
                raise InvalidFilterError(
                    f"filter must be a string, got {type(filter_string).__name__}"
                )
            if order_by is not None and not isinstance(order_by, Sequence):
                raise InvalidFilterError(f"order_by must be a list of strings, got {order_by!r}")
            for text in [filter_string or "", *(order_by or ())]:
                index = bad_character(str(text), allow_nul=True)
                if index is not None:
                    raise InvalidFilterError(
                        f"Invalid search expression {text!r}: it contains "
                        + describe_bad_character(str(text), index),
                        position=index,
                    )
        return list(order_by) if order_by else None

    def _search(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._http.call("POST", path, body=body)
        except InvalidInputError as exc:
            if isinstance(exc, InvalidFilterError):
                raise
            raise InvalidFilterError(exc.message) from None  # as a local store's search says

    def delete_experiment(self, experiment_id: str) -> None:
        self._http.call(
            "POST", f"{MLFLOW}/experiments/delete", body={"experiment_id": experiment_id}
        )

    def restore_experiment(self, experiment_id: str) -> None:
        self._http.call(
            "POST", f"{MLFLOW}/experiments/restore", body={"experiment_id": experiment_id}
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._http.call(
            "POST",
            f"{MLFLOW}/experiments/update",
            body={"experiment_id": experiment_id, "new_name": new_name},
        )

    def set_experiment_tag(self, experiment_id: str, tag: RunTag) -> None:
        self._http.call(
            "POST",
            f"{MLFLOW}/experiments/set-experiment-tag",
            body={"experiment_id": experiment_id, "key": tag.key, "value": str(tag.value)},
        )

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "user_id": user_id or "",
            "start_time": start_time,
            "tags": tags_to_json(tags),
        }
        if run_name:
            body["run_name"] = run_name
        answer = self._http.call("POST", f"{MLFLOW}/runs/create", body=body)
        return self._run(answer["run"])

    def get_run(self, run_id: str) -> Run:
        answer = self._http.call("GET", f"{MLFLOW}/runs/get", params={"run_id": run_id})
        return self._run(answer["run"])

    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values = run_info_values(status, end_time, run_name)  # the local stores' checks
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id, **values}
        answer = self._http.call("POST", f"{MLFLOW}/runs/update", body=body)
        info = answer.get("run_info")
        if not isinstance(info, dict):
            return self.get_run(run_id).info
        return self._run_info(info)

    def delete_run(self, run_id: str) -> None:
        self._http.call("POST", f"{MLFLOW}/runs/delete", body={"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._http.call("POST", f"{MLFLOW}/runs/restore", body={"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """One log-batch request, or several when over MLflow's per-request limits (1000
        metrics, 100 params, 100 tags, 1000 in all): params first, so that a changed param
        fails the call before any of its metrics is written. Only a batch over the limits is
        not atomic."""
        param_list = _unique_params(params)
        tag_list = list({t.key: t for t in tags}.values())  # the last value wins, as locally
        metric_json = [metric_to_json(m) for m in metrics]
        self._post_batches(run_id, metric_json, [param_to_json(p) for p in param_list], tag_list)

    def log_checked_metrics(self, run_id: str, rows: Sequence[tuple[str, float, int, int]]) -> None:
        """Metric values in log-batch requests of 1000 (the asynchronous logger's path)."""
        if rows:
            self._post_batches(run_id, [metric_row_to_json(r) for r in rows], [], [])

    def _post_batches(
        self,
        run_id: str,
        metrics: list[dict[str, Any]],
        params: list[dict[str, str]],
        tags: list[RunTag],
    ) -> None:
        path = f"{MLFLOW}/runs/log-batch"
        tag_json = tags_to_json(tags)
        first = True
        while first or metrics or params or tag_json:
            first = False
            body = {
                "run_id": run_id,
                "params": params[:MAX_PARAMS_PER_BATCH],
                "tags": tag_json[:MAX_TAGS_PER_BATCH],
                "metrics": [],
            }
            params = params[MAX_PARAMS_PER_BATCH:]
            tag_json = tag_json[MAX_TAGS_PER_BATCH:]
            if not params:  # every param is in: metrics may follow, within the total limit
                room = MAX_METRICS_PER_BATCH - len(body["params"]) - len(body["tags"])
                body["metrics"] = metrics[:room]
                metrics = metrics[room:]
            self._http.call("POST", path, body=body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._http.call("POST", f"{MLFLOW}/runs/delete-tag", body={"run_id": run_id, "key": key})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        found: list[Metric] = []
        params: dict[str, Any] = {"run_id": run_id, "metric_key": key}
        while True:
            answer = self._http.call("GET", f"{MLFLOW}/metrics/get-history", params=params)
            found.extend(metric_from_json(m) for m in answer.get("metrics") or ())
            token = answer.get("next_page_token")
            if not token:
                break
            params["page_token"] = token
        found.sort(key=lambda m: (m.step, m.timestamp))  # stable: the server's order in a tie
        return found

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        order_by = self._check_search("run", filter_string, order_by, max_results)
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "run_view_type": view_type_name(run_view_type),
            "max_results": max_results,
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = order_by
        if page_token:
            body["page_token"] = page_token
        answer = self._search(f"{MLFLOW}/runs/search", body)
        return PagedList(
            [self._run(r) for r in answer.get("runs") or ()],
            answer.get("next_page_token") or None,
        )

    # -- traces ----------------------------------------------------------------------------
    def log_spans(self, spans: Sequence[SpanRecord]) -> None:
        if not spans:
            return
        if self.server_kind() == "spanrun":
            self._post_spans(_span_chunks(_encoded_spans(spans), _MAX_REQUEST_BYTES))
            return
        self._log_spans_to_mlflow(spans)

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
            response = self._http.send(
                "POST",
                _otlp_json.OTLP_TRACES_PATH,
                content=_otlp_json.encode(group),
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
        if self.server_kind() != "spanrun":
            return super().log_export_batch(runs, spans)
        try:
            runs_json = orjson.dumps({rid: _run_batch_json(rid, b) for rid, b in runs.items()})
        except orjson.JSONEncodeError as exc:
            raise InvalidInputError(f"An export batch cannot be sent as JSON: {exc}") from None
        # Spans beyond what fits under the request size limit follow in spans/log requests.
        room = max(_MAX_REQUEST_BYTES - len(runs_json), _MAX_REQUEST_BYTES // 4)
        chunks = _span_chunks(_encoded_spans(spans), room)
        first = chunks[0] if chunks else []
        content = b'{"runs":' + runs_json + b',"spans":[' + b",".join(first) + b"]}"
        answer = self._http.call("POST", f"{SPANRUN}/runs/log-export-batch", content=content)
        self._post_spans(chunks[1:])
        skipped = answer.get("skipped") or {}
        return {str(k): str(v) for k, v in skipped.items()}


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


def _unique_params(params: Sequence[Param]) -> list[Param]:
    """Params with repeats of the same value dropped (MLflow refuses any repeated key);
    one key with two values is the local stores' InvalidParamChangeError."""
    from spanrun.errors import InvalidParamChangeError

    seen: dict[str, Param] = {}
    for p in params:
        value = str(p.value)
        earlier = seen.get(p.key)
        if earlier is not None and earlier.value != value:
            raise InvalidParamChangeError(
                f"Param {p.key!r} is logged twice in one batch with different values: "
                f"{earlier.value!r} and {value!r}"
            )
        seen[p.key] = Param(p.key, value)
    return list(seen.values())


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
