"""Test isolation shared by the test folders: a fresh SQLite store per test and a fluent API
with no leftover state (active runs, async queue, tracking URI, environment)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import spanrun
from spanrun.tracking import _async_logging, _uri
from spanrun.tracking.fluent import tracker

ENV_VARS = (
    "SPANRUN_TRACKING_URI",
    "SPANRUN_ENABLE_ASYNC_LOGGING",
    "SPANRUN_TRUNCATE_LONG_VALUES",
    "SPANRUN_RUN_ID",
    "SPANRUN_EXPERIMENT_ID",
    "SPANRUN_EXPERIMENT_NAME",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
)


def reset_tracking() -> None:
    # Errors here belong to the test that left them (it asserted what it wanted already).
    while spanrun.active_run() is not None:
        with contextlib.suppress(Exception):
            spanrun.end_run()
    with contextlib.suppress(Exception):
        _async_logging.flush()
    tracker.reset()
    _uri._state.reset()
    reset_global_tracer_provider()


def reset_global_tracer_provider() -> None:
    """Forget OpenTelemetry's global TracerProvider (autolog installs one when none is set), as
    OpenTelemetry's own tests do: OTel allows setting it once per process."""
    from opentelemetry import trace as otel_trace
    from opentelemetry.util._once import Once

    otel_trace._TRACER_PROVIDER_SET_ONCE = Once()
    otel_trace._TRACER_PROVIDER = None


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Autouse from the root conftest: every test gets its own store and clean state."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    reset_tracking()
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    spanrun.set_tracking_uri(uri)
    yield uri
    reset_tracking()
