"""spanrun: track LLM work as MLflow-style runs, with OpenTelemetry-native autologging.

``import spanrun as mlflow`` ports MLflow tracking code: the fluent API below follows MLflow's
names, signatures and defaults. ``spanrun.autolog()`` captures OpenAI and LangChain calls.
``spanrun.openai``, ``spanrun.langchain``, ``spanrun.llm``, ``spanrun.artifacts``,
``spanrun.data``, ``spanrun.pyfunc``, ``spanrun.metrics`` and ``spanrun.evaluate`` load on first
access, so importing spanrun never imports openai, langchain, pandas or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

from spanrun.core.entities import (
    Experiment,
    FileInfo,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    SpanRecord,
    Trace,
    TraceInfo,
    ViewType,
)
from spanrun.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    SpanrunError,
)
from spanrun.tracking import (
    RunOperations,
    add_flush_hook,
    get_tracking_uri,
    is_tracking_uri_set,
    set_tracking_uri,
)
from spanrun.tracking.client import MlflowClient, SpanrunClient
from spanrun.tracking.fluent import ActiveRun
from spanrun.tracking.fluent import tracker as _tracker

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "AlreadyExistsError",
    "Experiment",
    "FileInfo",
    "InvalidInputError",
    "InvalidStateError",
    "Metric",
    "MlflowClient",
    "NotFoundError",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunOperations",
    "RunStatus",
    "RunTag",
    "SpanRecord",
    "SpanrunClient",
    "SpanrunError",
    "Trace",
    "TraceInfo",
    "ViewType",
    "__version__",
    "active_run",
    "add_flush_hook",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "end_run",
    "evaluate",
    "flush_async_logging",
    "get_artifact_uri",
    "get_current_active_span",
    "get_experiment",
    "get_experiment_by_name",
    "get_last_active_trace_id",
    "get_metric_history",
    "get_parent_run",
    "get_run",
    "get_trace",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "metrics",
    "pyfunc",
    "rename_experiment",
    "restore_experiment",
    "search_experiments",
    "search_runs",
    "search_traces",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "start_span",
    "trace",
    "update_current_trace",
]

# The fluent API: bound methods of the default tracker (state lives on that object).
active_run = _tracker.active_run
create_experiment = _tracker.create_experiment
delete_experiment = _tracker.delete_experiment
delete_run = _tracker.delete_run
delete_tag = _tracker.delete_tag
end_run = _tracker.end_run
flush_async_logging = _tracker.flush_async_logging
get_artifact_uri = _tracker.get_artifact_uri
get_experiment = _tracker.get_experiment
get_experiment_by_name = _tracker.get_experiment_by_name
get_metric_history = _tracker.get_metric_history
get_parent_run = _tracker.get_parent_run
get_run = _tracker.get_run
get_trace = _tracker.get_trace
last_active_run = _tracker.last_active_run
load_table = _tracker.load_table
log_artifact = _tracker.log_artifact
log_artifacts = _tracker.log_artifacts
log_dict = _tracker.log_dict
log_figure = _tracker.log_figure
log_image = _tracker.log_image
log_input = _tracker.log_input
log_inputs = _tracker.log_inputs
log_metric = _tracker.log_metric
log_metrics = _tracker.log_metrics
log_param = _tracker.log_param
log_params = _tracker.log_params
log_table = _tracker.log_table
log_text = _tracker.log_text
rename_experiment = _tracker.rename_experiment
restore_experiment = _tracker.restore_experiment
search_experiments = _tracker.search_experiments
search_runs = _tracker.search_runs
search_traces = _tracker.search_traces
set_experiment = _tracker.set_experiment
set_experiment_tag = _tracker.set_experiment_tag
delete_experiment_tag = _tracker.delete_experiment_tag
set_experiment_tags = _tracker.set_experiment_tags
set_tag = _tracker.set_tag
set_tags = _tracker.set_tags
start_run = _tracker.start_run

_LAZY_SUBMODULES = (
    "openai",
    "langchain",
    "llm",
    "artifacts",
    "data",
    "entities",
    "pyfunc",
    "metrics",
)
# Names whose modules import OpenTelemetry: loaded on first use, so `import spanrun` stays light.
_LAZY_NAMES = {
    "autolog": "spanrun._autolog",
    "trace": "spanrun._tracing",
    "start_span": "spanrun._tracing",
    "get_last_active_trace_id": "spanrun._tracing",
    "get_current_active_span": "spanrun._tracing",
    "update_current_trace": "spanrun._tracing",
    "evaluate": "spanrun._evaluate",
}


def __getattr__(name: str) -> Any:
    # Submodules that pull in heavy or optional libraries load on first access.
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"spanrun.{name}")
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        if name != "autolog":  # autolog stays looked up (tests swap its state)
            globals()[name] = value  # the next access is a plain attribute
        return value
    from spanrun._mlflow_names import unsupported

    raise unsupported(name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_SUBMODULES, *_LAZY_NAMES})
