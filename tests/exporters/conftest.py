"""Fixtures for the exporter tests: a fresh SQLite store per test and a real SDK pipeline
(TracerProvider -> RunStampingProcessor + BoundedBatchSpanProcessor -> RunExporter)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

import spanrun
from spanrun.exporters import BoundedBatchSpanProcessor, RunExporter, RunStampingProcessor
from spanrun.store.base import Store
from spanrun.tracking import _async_logging, _uri
from spanrun.tracking.fluent import tracker

_ENV_VARS = (
    "SPANRUN_TRACKING_URI",
    "SPANRUN_RUN_ID",
    "SPANRUN_EXPERIMENT_ID",
    "SPANRUN_EXPERIMENT_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
)


def _reset() -> None:
    while spanrun.active_run() is not None:
        with contextlib.suppress(Exception):
            spanrun.end_run()
    with contextlib.suppress(Exception):
        _async_logging.flush()
    tracker.reset()
    _uri._state.reset()


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    _reset()
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    spanrun.set_tracking_uri(uri)
    yield uri
    _reset()


@pytest.fixture
def store(tracking_uri: str) -> Store:
    return _uri.get_store_for_uri(tracking_uri)


@dataclass
class Pipeline:
    provider: TracerProvider
    tracer: Tracer
    exporter: RunExporter
    batch: BoundedBatchSpanProcessor

    def flush(self) -> None:
        assert self.batch.force_flush(30_000)


@pytest.fixture
def make_pipeline() -> Iterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def make(store: Any = None, batch_kwargs: dict[str, Any] | None = None, **kwargs: Any):
        provider = TracerProvider()
        exporter = RunExporter(store, **{"retry_delay_s": 0.01, **kwargs})
        batch = BoundedBatchSpanProcessor(exporter, **(batch_kwargs or {}))
        provider.add_span_processor(RunStampingProcessor())
        provider.add_span_processor(batch)
        pipeline = Pipeline(provider, provider.get_tracer("tests"), exporter, batch)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.provider.shutdown()
