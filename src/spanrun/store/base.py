"""The store interfaces: ``RunWriter`` (what the run exporter writes through) and ``Store``
(everything the client needs from a backend, a ``RunWriter`` plus reads, search and the rest).

Implementations: ``SqlRunWriter`` (every SQL database; on its own, autolog's exporter on a
SQLite file), ``SqlAlchemyStore`` (SQLite, PostgreSQL: a ``SqlRunWriter`` plus SQLAlchemy reads
and search) and ``RestStore`` (http(s) URIs: a spanrun or MLflow server). Every method
raises only :mod:`spanrun.errors` exceptions.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from spanrun.core.entities import (
    DatasetInput,
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
from spanrun.core.text import storable_text
from spanrun.errors import InvalidParamChangeError, InvalidStateError, NotFoundError
from spanrun.store._downsample import check_max_points, downsample
from spanrun.store._llm_calls import calls_as_metrics, checked_calls, unpack_run_batch

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "DEFAULT_EXPERIMENT_NAME",
    "RUN_KEY_TAG",
    "MetricHistory",
    "RunBatch",
    "RunKeys",
    "RunWriter",
    "Store",
    "TraceFilter",
]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
#: The system tag of a run made by ``RunWriter.create_keyed_run``: its key.
RUN_KEY_TAG = "spanrun.run_key"

#: What an export batch writes to one run: metrics as (key, value, timestamp_ms, step) tuples,
#: params and tags as {key: value}, and optionally LLM calls as ``(step, timestamp_ms, *values)``
#: rows with the values of ``spanrun.store._llm_calls.CALL_METRICS`` (None where a call has none):
#: the same as those metrics at that step, stored more compactly by SQL stores.
RunBatch = (
    tuple[Sequence[tuple[str, float, int, int]], Mapping[str, str], Mapping[str, str]]
    | tuple[
        Sequence[tuple[str, float, int, int]],
        Mapping[str, str],
        Mapping[str, str],
        Sequence[tuple[Any, ...]],
    ]
)


@dataclasses.dataclass(frozen=True)
class MetricHistory:
    """One run's history of one metric as read for a chart: ``points`` in history order
    (down-sampled when asked), ``total`` the number of points the full history holds."""

    run_id: str
    key: str
    points: list[Metric]
    total: int


@dataclasses.dataclass(frozen=True)
class RunKeys:
    """The distinct param, metric and tag keys of some runs, each sorted."""

    params: list[str]
    metrics: list[str]
    tags: list[str]


@dataclasses.dataclass(frozen=True)
class TraceFilter:
    """What ``search_traces`` keeps besides experiment and run (all given ones must hold).

    ``status``: ``OK``/``ERROR``/``UNSET``; ``name``: a case-insensitive substring of the
    trace's name; ``min_duration_ms``/``max_duration_ms``: bounds of its latency;
    ``start_from_ms``/``start_to_ms``: its start time in [from, to) (ms since the epoch).
    """

    status: str | None = None
    name: str | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    start_from_ms: int | None = None
    start_to_ms: int | None = None

    def matches(self, info: TraceInfo) -> bool:
        """Whether ``info`` passes (for stores that filter in Python)."""
        duration_ms = (info.end_time_ns - info.start_time_ns) / 1e6
        start_ms = info.start_time_ns // 1_000_000
        return not (
            (self.status and info.status != self.status)
            or (self.name and self.name.lower() not in (info.name or "").lower())
            or (self.min_duration_ms is not None and duration_ms < self.min_duration_ms)
            or (self.max_duration_ms is not None and duration_ms > self.max_duration_ms)
            or (self.start_from_ms is not None and start_ms < self.start_from_ms)
            or (self.start_to_ms is not None and start_ms >= self.start_to_ms)
        )


class RunWriter(abc.ABC):
    """What the run exporter needs from a store: runs to create, read and end, and export
    batches to write. Every ``Store`` is one."""

    # -- runs ------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run: ...

    def create_keyed_run(
        self,
        key: str,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """The RUNNING, active run of ``experiment_id`` tagged ``RUN_KEY_TAG=key``, else a new
        run (``create_run``) with that tag. SQL stores look and create in one transaction, under
        a lock on the key, so callers racing from several processes (the workers of one
        server) get one run. This default only creates."""
        return self.create_run(
            experiment_id, user_id, start_time, [*tags, RunTag(RUN_KEY_TAG, key)], run_name
        )

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Raise NotFoundError when unknown (deleted runs are returned, lifecycle 'deleted')."""

    @abc.abstractmethod
    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo: ...

    @abc.abstractmethod
    def log_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> dict[str, str]:
        """Write what one exporter batch produced: each run's metrics, params and tags, and spans.

        Same meaning as ``log_batch`` per run and ``log_spans``, except that a param already
        logged is kept (the first value wins; a different value is not an error). Runs that are
        unknown or deleted are left out and returned as ``{run_id: reason}``; the rest is
        written, in one transaction where the store has them.
        """

    def prepare_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> Callable[[], dict[str, str]]:
        """``log_export_batch`` in two steps: check and build rows now, write when called.

        The returned function does the writing (and may be called again to retry). The run
        exporter prepares on its mapping thread and writes on its writer thread, so that the
        writer, the slower stage, is left with the database work. Raises what
        ``log_export_batch`` raises for bad input. This default prepares nothing.
        """
        return functools.partial(self.log_export_batch, runs, spans)

    # -- lifecycle -------------------------------------------------------------------------
    def reopen_if_replaced(self) -> bool:
        """True when the store found its database deleted or replaced since it opened it, and
        opened (or created) the one there now: the runs it held before are gone. Called by the
        exporter before each batch, so it must be cheap; this default never finds that."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class Store(RunWriter):
    """Abstract tracking store. ``artifact_root`` is where new experiments put artifacts."""

    artifact_root: str

    # -- experiments -------------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[RunTag] = ()
    ) -> str: ...

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Raise NotFoundError when unknown (deleted experiments are returned)."""

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]: ...

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, tag: RunTag) -> None: ...

    @abc.abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove the tag ``key``: NotFoundError when the experiment or the tag does not
        exist, InvalidStateError for a deleted experiment (as MLflow)."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write atomically: on any error (e.g. a changed param) nothing of the batch is kept."""

    def log_checked_metrics(self, run_id: str, rows: Sequence[tuple[str, float, int, int]]) -> None:
        """Append metric values the client has validated: ``(key, value, timestamp_ms, step)``.

        Same meaning as ``log_batch`` with metrics only; stores may override it to skip
        per-value objects (the asynchronous logger's path).
        """
        self.log_batch(run_id, metrics=[Metric(k, v, ts, step) for k, v, ts, step in rows])

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def log_inputs(self, run_id: str, dataset_inputs: Sequence[DatasetInput]) -> None:
        """Record datasets the (active) run used, as MLflow does: a dataset is kept once per
        experiment and (name, digest); a dataset the run already has keeps its first tags."""

    @abc.abstractmethod
    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = None
    ) -> list[Metric]:
        """Ordered by (step, timestamp, insertion).

        ``max_points`` (at least 2) down-samples a longer history keeping its shape: its step
        range (time range when it has too few distinct steps) is cut into ``max_points // 2``
        equal intervals, each giving its lowest and highest point (at most ``max_points``).
        """

    # -- reads for the UI: stores answer them in one query, these defaults use the above -----
    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """The runs of ``run_ids`` in that order (a repeated id once), as ``get_run`` gives
        them; an unknown run raises NotFoundError. This default calls ``get_run`` for each."""
        return [self.get_run(run_id) for run_id in dict.fromkeys(run_ids)]

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], max_points: int | None = None
    ) -> list[MetricHistory]:
        """The histories of ``keys`` in each of ``run_ids`` (down-sampled as in
        ``get_metric_history``), in the order of the runs then keys; a run without a key
        gives no history, an unknown run raises NotFoundError."""
        check_max_points(max_points)
        out = []
        for run_id in dict.fromkeys(run_ids):
            for key in dict.fromkeys(keys):
                history = self.get_metric_history(run_id, key)
                if history:
                    out.append(
                        MetricHistory(run_id, key, downsample(history, max_points), len(history))
                    )
        return out

    def count_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    ) -> int:
        """How many runs ``search_runs`` would find. This default pages through them."""
        count = 0
        token: str | None = None
        while True:
            page = self.search_runs(experiment_ids, filter_string, run_view_type, 5000, None, token)
            count += len(page)
            token = page.token
            if token is None:
                return count

    def distinct_keys(
        self,
        experiment_ids: Sequence[str],
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    ) -> RunKeys:
        """Every param, metric and tag key of the experiments' runs. This default reads every
        run through ``search_runs``."""
        params: set[str] = set()
        metrics: set[str] = set()
        tags: set[str] = set()
        token: str | None = None
        while True:
            page = self.search_runs(experiment_ids, "", run_view_type, 5000, None, token)
            for run in page:
                params.update(run.data.params)
                metrics.update(run.data.metrics)
                tags.update(run.data.tags)
            token = page.token
            if token is None:
                return RunKeys(sorted(params), sorted(metrics), sorted(tags))

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]: ...

    # -- traces ----------------------------------------------------------------------------
    @abc.abstractmethod
    def log_spans(self, spans: Sequence[SpanRecord]) -> None:
        """Store finished spans; a trace row is created or widened as its spans arrive.

        Idempotent per (trace_id, span_id), so an exporter may retry a batch.
        """

    @abc.abstractmethod
    def get_trace(self, trace_id: str) -> Trace: ...

    def stored_span_ids(self, trace_ids: Sequence[str]) -> dict[str, set[str]]:
        """The span ids stored for each of ``trace_ids`` (hex), in as few round trips as the
        store can; traces without spans are left out. This default reads each trace."""
        found: dict[str, set[str]] = {}
        for trace_id in dict.fromkeys(trace_ids):
            try:
                spans = self.get_trace(trace_id).spans
            except NotFoundError:
                continue
            if spans:
                found[trace_id] = {s.span_id for s in spans}
        return found

    @abc.abstractmethod
    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        trace_filter: TraceFilter | None = None,
    ) -> PagedList[TraceInfo]:
        """Traces of the experiments or the run, newest first, kept by ``trace_filter``."""

    def log_export_batch(
        self, runs: Mapping[str, RunBatch], spans: Sequence[SpanRecord] = ()
    ) -> dict[str, str]:
        """As ``RunWriter.log_export_batch``. Stores should override this to write it all in
        one transaction; this default uses ``get_run``, ``log_batch`` (within the per-call
        limits) and ``log_spans``."""
        skipped: dict[str, str] = {}
        for run_id, batch in runs.items():
            metrics, params, tags, calls = unpack_run_batch(batch)
            if calls:
                metrics = [*metrics, *calls_as_metrics(checked_calls(run_id, calls))]
            # Span data is never refused for its text: as the SQL stores' own version does.
            params = {k: storable_text(str(v)) for k, v in params.items()}
            tags = {k: storable_text(str(v)) for k, v in tags.items()}
            try:
                self._log_run_batch(run_id, metrics, params, tags)
            except (NotFoundError, InvalidStateError) as exc:
                skipped[run_id] = str(exc)
        if spans:
            self.log_spans(
                [
                    dataclasses.replace(
                        s,
                        name=storable_text(s.name or ""),
                        status_message=storable_text(s.status_message or ""),
                    )
                    for s in spans
                ]
            )
        return skipped

    def _log_run_batch(
        self,
        run_id: str,
        metrics: Sequence[tuple[str, float, int, int]],
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> None:
        metric_list = [Metric(k, v, ts, step) for k, v, ts, step in metrics]
        param_list = [Param(k, str(v)) for k, v in params.items()]
        tag_list = [RunTag(k, str(v)) for k, v in tags.items()]
        chunks = max(
            -(-len(metric_list) // 1000), -(-len(param_list) // 100), -(-len(tag_list) // 100)
        )
        for i in range(chunks):
            chunk_params = param_list[i * 100 : (i + 1) * 100]
            for attempt in range(2):  # a param logged meanwhile by another writer: re-read
                if chunk_params:
                    logged = self.get_run(run_id).data.params
                    chunk_params = [p for p in chunk_params if p.key not in logged]
                try:
                    self.log_batch(
                        run_id,
                        metric_list[i * 1000 : (i + 1) * 1000],
                        chunk_params,
                        tag_list[i * 100 : (i + 1) * 100],
                    )
                    break
                except InvalidParamChangeError:
                    if attempt:
                        raise
