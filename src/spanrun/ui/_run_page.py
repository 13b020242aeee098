"""A run's page: params, latest metrics with charts, tags, description, family, artifacts,
traces. A running run's page reloads itself."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from spanrun.artifacts import get_artifact_repository
from spanrun.core.entities import DatasetInput, FileInfo, Run, ViewType
from spanrun.core.vocabulary import DATASET_CONTEXT_TAG, NOTE_TAG, PARENT_RUN_TAG
from spanrun.errors import NotFoundError, SpanrunError
from spanrun.store import Store
from spanrun.ui._queries import quoted_key, string_literal
from spanrun.ui._render import page

__all__ = ["list_artifacts_tree", "run_page"]

MAX_ARTIFACTS_LISTED = 1000
MAX_CHILDREN = 200
RUN_TRACES_SHOWN = 20
REFRESH_SECONDS = 5


def list_artifacts_tree(
    artifact_uri: str, limit: int = MAX_ARTIFACTS_LISTED
) -> tuple[list[FileInfo], bool]:
    """Files of a run (depth first, at most ``limit``), and whether the listing was cut."""
    repo = get_artifact_repository(artifact_uri)
    files: list[FileInfo] = []
    pending = [""]
    while pending:
        directory = pending.pop()
        entries = repo.list_artifacts(directory or None)
        for entry in reversed(entries):
            if entry.is_dir:
                pending.append(entry.path)
        for entry in entries:
            if not entry.is_dir:
                files.append(entry)
                if len(files) >= limit:
                    return sorted(files, key=lambda f: f.path), True
    return sorted(files, key=lambda f: f.path), False


def _parent(store: Store, run: Run) -> Run | None:
    parent_id = run.data.tags.get(PARENT_RUN_TAG)
    if not parent_id:
        return None
    try:
        return store.get_run(parent_id)
    except NotFoundError:
        return None


def _dataset_row(item: DatasetInput) -> dict[str, Any]:
    """A row of the run page's Datasets table: name, digest, context, source kind, rows."""
    try:
        profile = json.loads(item.dataset.profile or "{}")
    except ValueError:
        profile = {}
    rows = profile.get("num_rows") if isinstance(profile, dict) else None
    context = next((t.value for t in item.tags if t.key == DATASET_CONTEXT_TAG), "")
    return {
        "name": item.dataset.name,
        "digest": item.dataset.digest,
        "context": context,
        "source_type": item.dataset.source_type,
        "rows": rows,
    }


def run_page(store: Store, request: Request, run_id: str) -> Response:
    """Everything about one run; its charts load their histories when scrolled into view."""
    run = store.get_run(run_id)
    experiment = store.get_experiment(run.info.experiment_id)
    children = store.search_runs(
        [run.info.experiment_id],
        f"tags.{quoted_key(PARENT_RUN_TAG)} = {string_literal(run_id)}",
        ViewType.ACTIVE_ONLY,
        MAX_CHILDREN,
    )
    artifact_error: str | None = None
    try:
        files, cut = list_artifacts_tree(run.info.artifact_uri)
    except SpanrunError as exc:  # an unreachable artifact store must not hide the run
        files, cut, artifact_error = [], False, str(exc)
    traces = store.search_traces(run_id=run_id, max_results=RUN_TRACES_SHOWN)
    tags = run.data.tags
    user_tags = {k: v for k, v in sorted(tags.items()) if not k.startswith("mlflow.")}
    system_tags = {k: v for k, v in sorted(tags.items()) if k.startswith("mlflow.")}
    return page(
        "run.html",
        title=run.info.run_name or run_id,
        run=run,
        experiment=experiment,
        parent=_parent(store, run),
        children=children,
        description=tags.get(NOTE_TAG, ""),
        params=sorted(run.data.params.items()),
        metrics=sorted(run.data.metrics.items()),
        user_tags=user_tags,
        system_tags=system_tags,
        datasets=[_dataset_row(item) for item in run.inputs.dataset_inputs],
        files=files,
        files_cut=cut,
        artifact_error=artifact_error,
        traces=traces,
        more_traces=traces.token is not None,
        refresh=REFRESH_SECONDS if run.info.status == "RUNNING" else 0,
    )
