"""The Store interface: everything the client needs from a backend.

Implementations: ``SqlAlchemyStore`` (SQLite, PostgreSQL) and, later, ``RestStore``.
Every method raises only :mod:`spanrun.errors` exceptions.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from spanrun.tracking.entities import (
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

__all__ = ["DEFAULT_EXPERIMENT_ID", "DEFAULT_EXPERIMENT_NAME", "Store"]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


class Store(abc.ABC):
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

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Ordered by (step, timestamp, insertion)."""

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

    @abc.abstractmethod
    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[TraceInfo]: ...

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
