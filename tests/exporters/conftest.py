"""Fixtures for the exporter tests: a fresh SQLite store per test and a real SDK pipeline
(TracerProvider -> RunStampingProcessor + BoundedBatchSpanProcessor -> RunExporter)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from spanrun.exporters import BoundedBatchSpanProcessor, RunExporter, RunStampingProcessor
from spanrun.store.base import Store
from spanrun.tracking import _uri


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
