"""The public surface of ``spanrun``: the exported names and a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import spanrun

EXPECTED_ALL = [
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


def test_all_is_the_documented_api() -> None:
    assert spanrun.__all__ == EXPECTED_ALL


def test_every_exported_name_resolves_except_autolog_before_it_exists() -> None:
    for name in EXPECTED_ALL:
        if name == "autolog":
            continue
        assert getattr(spanrun, name) is not None, name
    assert spanrun.MlflowClient is spanrun.SpanrunClient


def test_import_is_light_and_submodules_load_lazily() -> None:
    code = (
        "import json, sys, spanrun\n"
        "heavy = ['openai', 'langchain', 'langchain_core', 'pandas', 'sqlalchemy', 'numpy', "
        "'PIL', 'yaml']\n"
        "before = [m for m in heavy if m in sys.modules]\n"
        "arts = spanrun.artifacts.__name__\n"
        "print(json.dumps({'before': before, 'artifacts': arts}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == []
    assert result["artifacts"] == "spanrun.artifacts"


def test_autolog_is_reachable_without_importing_the_instrumented_libraries() -> None:
    code = (
        "import json, sys, spanrun\n"
        "ok = callable(spanrun.autolog)\n"
        "loaded = [m for m in ('openai', 'langchain', 'langchain_core') if m in sys.modules]\n"
        "print(json.dumps({'callable': ok, 'loaded': loaded}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"callable": True, "loaded": []}


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="does_not_exist"):
        spanrun.does_not_exist  # noqa: B018
