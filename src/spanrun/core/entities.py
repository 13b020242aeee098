"""Frozen value objects returned by the tracking API (shaped like MLflow's entities)."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "Dataset",
    "DatasetInput",
    "Experiment",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "Metric",
    "PagedList",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunStatus",
    "RunTag",
    "SpanEvent",
    "SpanRecord",
    "Trace",
    "TraceInfo",
    "ViewType",
]

T = TypeVar("T")


class RunStatus(str, enum.Enum):
    """Status of a run; the string values are MLflow's."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def is_terminated(cls, status: str) -> bool:
        return status in (cls.FINISHED, cls.FAILED, cls.KILLED)

    def __str__(self) -> str:
        return self.value


class LifecycleStage(str, enum.Enum):
    ACTIVE = "active"
    DELETED = "deleted"

    def __str__(self) -> str:
        return self.value


class ViewType(enum.IntEnum):
    """Which runs or experiments a search returns (MLflow's numbering)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int  # milliseconds since the epoch
    step: int = 0


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    user_id: str = ""

    @property
    def run_uuid(self) -> str:  # MLflow's deprecated alias, still read by old code
        return self.run_id


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """A dataset a run used, as MLflow's ``mlflow.entities.Dataset``: ``source`` is JSON (its
    kind in ``source_type``), ``schema`` and ``profile`` are JSON strings or None."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "source_type": self.source_type,
            "source": self.source,
            "schema": self.schema,
            "profile": self.profile,
        }


@dataclass(frozen=True)
class InputTag:
    """A tag on one use of a dataset by a run (``mlflow.data.context`` holds the context)."""

    key: str
    value: str


@dataclass(frozen=True)
class DatasetInput:
    """A dataset used by a run, with the tags of that use (MLflow's ``DatasetInput``)."""

    dataset: Dataset
    tags: tuple[InputTag, ...] = ()

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset.to_dictionary(),
            "tags": {tag.key: tag.value for tag in self.tags},
        }


@dataclass(frozen=True)
class RunInputs:
    """What a run used: its dataset inputs, in the order they were first logged. MLflow's
    ``model_inputs`` (logged models) are always empty: spanrun keeps no logged models."""

    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)


@dataclass(frozen=True)
class FileInfo:
    path: str  # relative to the run's artifact root, '/'-separated
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True)
class SpanEvent:
    name: str
    timestamp_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanRecord:
    """One finished span as the store keeps it (ids are lowercase hex)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str  # INTERNAL, CLIENT, SERVER, PRODUCER, CONSUMER
    start_time_ns: int
    end_time_ns: int
    status_code: str = "UNSET"  # UNSET, OK, ERROR
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    resource: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    experiment_id: str | None = None


@dataclass(frozen=True)
class TraceInfo:
    trace_id: str
    run_id: str | None
    experiment_id: str | None
    name: str  # the root span's name ("" while the root has not arrived)
    start_time_ns: int
    end_time_ns: int
    status: str  # OK or ERROR (ERROR when any span failed)
    span_count: int


@dataclass(frozen=True)
class Trace:
    info: TraceInfo
    spans: tuple[SpanRecord, ...]

    @property
    def root_spans(self) -> list[SpanRecord]:
        ids = {s.span_id for s in self.spans}
        return [s for s in self.spans if s.parent_span_id is None or s.parent_span_id not in ids]

    def children(self, span_id: str) -> list[SpanRecord]:
        return sorted(
            (s for s in self.spans if s.parent_span_id == span_id), key=lambda s: s.start_time_ns
        )


class PagedList(list, Generic[T]):  # type: ignore[type-arg]
    """A list with the token of the next page (None on the last page)."""

    def __init__(self, items: Sequence[T] = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token

    def __iter__(self) -> Iterator[T]:
        return super().__iter__()
