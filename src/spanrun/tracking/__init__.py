"""Tracking: the client with explicit ids, the fluent API, entities, and where data goes.

``from spanrun.tracking import MlflowClient`` works like ``from mlflow.tracking import
MlflowClient``. The fluent functions live at the package top level (``spanrun.start_run``).
"""

from spanrun.core import current as _current
from spanrun.tracking._async_logging import RunOperations
from spanrun.tracking._hooks import add_flush_hook, remove_flush_hook
from spanrun.tracking._uri import (
    get_export_store_for_uri,
    get_store_for_uri,
    get_tracking_uri,
    is_tracking_uri_set,
    set_tracking_uri,
)
from spanrun.tracking.client import MlflowClient, SpanrunClient


def _active_run_ids() -> tuple[str, str] | None:
    from spanrun.tracking.fluent import tracker  # lazy: fluent imports this package

    run = tracker.active_run()
    return None if run is None else (run.info.run_id, run.info.experiment_id)


def _active_experiment_id() -> str:
    from spanrun.tracking.fluent import tracker

    return str(tracker._active_experiment_id())


def _run_artifact_uri(run_id: str, tracking_uri: str | None) -> str:
    return SpanrunClient(tracking_uri).get_artifact_uri(run_id)


# The layers below (store, artifacts, exporters) ask these through spanrun.core.current.
_current.register(
    active_run_ids=_active_run_ids,
    active_experiment_id=_active_experiment_id,
    tracking_uri=get_tracking_uri,
    export_store=get_export_store_for_uri,
    run_artifact_uri=_run_artifact_uri,
)

__all__ = [
    "MlflowClient",
    "RunOperations",
    "SpanrunClient",
    "add_flush_hook",
    "get_export_store_for_uri",
    "get_store_for_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "remove_flush_hook",
    "set_tracking_uri",
]
