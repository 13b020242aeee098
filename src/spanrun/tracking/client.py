"""``SpanrunClient`` (alias ``MlflowClient``): the tracking API with explicit ids.

Every call validates its input (see :mod:`spanrun.tracking._validation`) and then goes to the
store chosen by the tracking URI; artifacts go to the run's artifact repository.
"""

from __future__ import annotations

import getpass
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from spanrun.core.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    Metric,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    Trace,
    TraceInfo,
    ViewType,
)
from spanrun.core.run_names import generate_run_name
from spanrun.core.vocabulary import PARENT_RUN_TAG, RUN_NAME_TAG, USER_TAG
from spanrun.errors import InvalidInputError, UnsupportedError
from spanrun.tracking import _uri
from spanrun.tracking import _validation as check
from spanrun.tracking._artifact_io import dict_bytes, figure_bytes, image_bytes
from spanrun.tracking._async_logging import (
    RunOperations,
    async_logging_enabled,
    get_async_logger,
)
from spanrun.tracking._inputs import checked_dataset_inputs

if TYPE_CHECKING:
    import pandas as pd

    from spanrun.artifacts import ArtifactRepository
    from spanrun.store.base import Store

__all__ = ["MlflowClient", "SpanrunClient"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _current_user() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"
    # Read from the environment: undecodable bytes arrive as lone surrogates, which no store
    # can keep (the "replace" handler turns each into "?").
    return user.encode("utf-8", "replace").decode("utf-8")


def _id(kind: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # experiment ids are often passed as ints
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{kind} must be a non-empty string, got {value!r}")
    return check.text(f"{kind} {value!r}", value)


def _experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"Experiment name must be a non-empty string, got {name!r}")
    return check.text(f"Experiment name {name!r}", name)


def _tag_list(tags: Mapping[str, Any] | None) -> list[RunTag]:
    if not tags:
        return []
    if not isinstance(tags, Mapping):
        raise InvalidInputError(f"tags must be a dict of str to str, got {type(tags).__name__}")
    return [check.tag(k, v) for k, v in tags.items()]


def _metric_row(key: Any, value: Any, timestamp: Any, step: Any) -> tuple[str, float, int, int]:
    """``check.metric`` without building a Metric (fast paths for plain ints and floats)."""
    key = check.key("Metric", key)
    kind = type(value)
    try:
        number = float(value) if kind is float or kind is int else check.metric_value(key, value)
    except OverflowError:  # an int too large for a float: the typed error
        number = check.metric_value(key, value)
    if timestamp is None:
        timestamp = time.time_ns() // 1_000_000
    elif type(timestamp) is not int or not _INT64_MIN <= timestamp <= _INT64_MAX:
        timestamp = check.timestamp(key, timestamp)
        if not _INT64_MIN <= timestamp <= _INT64_MAX:
            raise InvalidInputError(
                f"Metric {key!r} timestamp {timestamp} is outside the 64-bit range"
            )
    if step is None:
        step = 0
    elif type(step) is not int or not _INT64_MIN <= step <= _INT64_MAX:
        step = check.step(key, step)
    return key, number, timestamp, step


def _view_type(value: Any) -> ViewType:
    try:
        return ViewType(value)
    except ValueError:
        raise InvalidInputError(
            f"Invalid view type {value!r}; use ViewType.ACTIVE_ONLY, DELETED_ONLY or ALL"
        ) from None


def _status(status: Any) -> str:
    value = status.value if isinstance(status, RunStatus) else status
    if value not in RunStatus.__members__:
        raise InvalidInputError(
            f"Invalid run status {status!r}; use one of {', '.join(RunStatus.__members__)}"
        )
    return str(value)


class SpanrunClient:
    """Client for the tracking store at ``tracking_uri`` (the current tracking URI if None)."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._tracking_uri = (
            _uri._normalize(tracking_uri) if tracking_uri else _uri.get_tracking_uri()
        )
        self._store_obj: Store | None = None
        self._artifact_uris: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    @property
    def store(self) -> Store:
        """The backing store (opened on first use)."""
        store = self._store_obj
        if store is None:
            store = self._store_obj = _uri.get_store_for_uri(self._tracking_uri)
        return store

    def __repr__(self) -> str:
        return f"SpanrunClient({self._tracking_uri!r})"

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Create an experiment and return its id (AlreadyExistsError when the name is taken)."""
        name = _experiment_name(name)
        if artifact_location is not None:
            if not isinstance(artifact_location, (str, os.PathLike)):
                raise InvalidInputError(
                    f"artifact_location must be a path or URI, got {artifact_location!r}"
                )
            artifact_location = os.fspath(artifact_location)
            check.text(f"artifact_location {artifact_location!r}", artifact_location)
        return self.store.create_experiment(name, artifact_location, _tag_list(tags))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(_id("experiment_id", experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        if not isinstance(name, str):
            raise InvalidInputError(f"Experiment name must be a string, got {name!r}")
        return self.store.get_experiment_by_name(check.text(f"Experiment name {name!r}", name))

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        return self.store.search_experiments(
            _view_type(view_type), max_results, filter_string, order_by, page_token
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(_id("experiment_id", experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(_id("experiment_id", experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(
            _id("experiment_id", experiment_id), _experiment_name(new_name)
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(_id("experiment_id", experiment_id), check.tag(key, value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove an experiment's tag (NotFoundError when it has none of that name)."""
        self.store.delete_experiment_tag(_id("experiment_id", experiment_id), check.key("Tag", key))

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run; a readable name is generated when none is given."""
        tag_list = _tag_list(tags)
        given = {t.key: t.value for t in tag_list}
        if run_name is not None:
            if not isinstance(run_name, str):
                raise InvalidInputError(f"run_name must be a string, got {run_name!r}")
            check.text(f"run_name {run_name!r}", run_name)
        if run_name and given.get(RUN_NAME_TAG, run_name) != run_name:
            raise InvalidInputError(
                f"run_name {run_name!r} and the {RUN_NAME_TAG} tag "
                f"{given[RUN_NAME_TAG]!r} disagree; pass only one"
            )
        name = run_name or given.get(RUN_NAME_TAG) or generate_run_name()
        user = given.get(USER_TAG) or _current_user()
        if RUN_NAME_TAG not in given:
            tag_list.append(RunTag(RUN_NAME_TAG, name))
        if USER_TAG not in given:
            tag_list.append(RunTag(USER_TAG, user))
        start = check.now_ms() if start_time is None else int(start_time)
        return self.store.create_run(
            _id("experiment_id", experiment_id), user, start, tag_list, name
        )

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(_id("run_id", run_id))

    def get_parent_run(self, run_id: str) -> Run | None:
        parent = self.get_run(run_id).data.tags.get(PARENT_RUN_TAG)
        return self.get_run(parent) if parent else None

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        run_id = _id("run_id", run_id)
        if name is not None:
            if not isinstance(name, str) or not name:
                raise InvalidInputError(f"Run name must be a non-empty string, got {name!r}")
            check.text(f"Run name {name!r}", name)
        self.store.update_run_info(
            run_id, status=None if status is None else _status(status), run_name=name
        )
        if name is not None:
            self.store.log_batch(run_id, tags=[check.tag(RUN_NAME_TAG, name)])

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End a run: FINISHED unless ``status`` says otherwise."""
        self.store.update_run_info(
            _id("run_id", run_id),
            status=_status(status or RunStatus.FINISHED),
            end_time=check.now_ms() if end_time is None else int(end_time),
        )

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(_id("run_id", run_id))

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(_id("run_id", run_id))

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs matching the filter (see the filter grammar in the README)."""
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [experiment_ids]
        ids = [_id("experiment_id", e) for e in experiment_ids]
        return self.store.search_runs(
            ids, filter_string or "", _view_type(run_view_type), max_results, order_by, page_token
        )

    # -- params, metrics, tags -----------------------------------------------------------------
    def _write(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        if async_logging_enabled(synchronous):
            return get_async_logger().enqueue(self.store, run_id, metrics, params, tags)
        self.store.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        return None

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param (its value is ``str()``-ed); returns the value, or a RunOperations when
        queued."""
        ops = self._write(
            _id("run_id", run_id), params=[check.param(key, value)], synchronous=synchronous
        )
        return value if ops is None else ops

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log one metric value (NaN and infinities are kept); ``step`` defaults to 0."""
        if synchronous is False or (synchronous is None and async_logging_enabled(None)):
            # The hot path of async logging: validated here, queued as a plain tuple.
            key, value, timestamp, step = _metric_row(key, value, timestamp, step)
            if type(run_id) is not str or not run_id:
                run_id = _id("run_id", run_id)
            return get_async_logger().enqueue_metric(
                self.store, run_id, key, value, timestamp, step
            )
        metric = check.metric(key, value, timestamp, step)
        self.store.log_batch(_id("run_id", run_id), metrics=[metric])
        return None

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log up to 1000 metrics, 100 params and 100 tags atomically."""
        m, p, t = check.batch(metrics, params, tags)
        return self._write(_id("run_id", run_id), m, p, t, synchronous)

    def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations | None:
        return self._write(
            _id("run_id", run_id), tags=[check.tag(key, value)], synchronous=synchronous
        )

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[Any] | None = None,
    ) -> None:
        """Record datasets the run used (``DatasetInput`` entities), as MLflow's
        ``log_inputs``: a dataset is kept once per experiment and (name, digest), and a run
        that already used it keeps the first use's tags."""
        if models:
            raise UnsupportedError(
                "spanrun has no logged models, so no model inputs; log datasets with datasets="
            )
        checked = checked_dataset_inputs(datasets)
        self.store.log_inputs(_id("run_id", run_id), checked)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(_id("run_id", run_id), check.key("Tag", key))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.store.get_metric_history(_id("run_id", run_id), check.key("Metric", key))

    # -- artifacts -----------------------------------------------------------------------------
    def get_artifact_uri(self, run_id: str) -> str:
        run_id = _id("run_id", run_id)
        uri = self._artifact_uris.get(run_id)
        if uri is None:
            uri = self.get_run(run_id).info.artifact_uri
            with self._lock:
                if len(self._artifact_uris) > 10_000:
                    self._artifact_uris.clear()
                self._artifact_uris[run_id] = uri
        return uri

    def _repo(self, run_id: str) -> ArtifactRepository:
        from spanrun.artifacts import get_artifact_repository

        return get_artifact_repository(self.get_artifact_uri(run_id))

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy a local file into the run's artifacts (under ``artifact_path`` when given)."""
        path = check.artifact_path(artifact_path) if artifact_path else None
        if not os.path.isfile(local_path):
            raise InvalidInputError(f"log_artifact: {os.fspath(local_path)!r} is not a file")
        self._repo(run_id).log_artifact(os.fspath(local_path), path or None)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy a local directory's contents into the run's artifacts."""
        path = check.artifact_path(artifact_path) if artifact_path else None
        if not os.path.isdir(local_dir):
            raise InvalidInputError(f"log_artifacts: {os.fspath(local_dir)!r} is not a directory")
        self._repo(run_id).log_artifacts(os.fspath(local_dir), path or None)

    def _write_artifact(self, run_id: str, artifact_file: str, data: bytes) -> None:
        path = check.artifact_path(artifact_file, "artifact_file")
        if not path:
            raise InvalidInputError(f"artifact_file must name a file, got {artifact_file!r}")
        self._repo(run_id).write_bytes(path, data)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Write ``text`` (UTF-8) as the artifact ``artifact_file``."""
        if not isinstance(text, str):
            raise InvalidInputError(f"log_text takes a str, got {type(text).__name__}")
        # A NUL is fine in a file; a lone surrogate has no UTF-8 encoding.
        check.text("The text given to log_text", text, allow_nul=True)
        self._write_artifact(run_id, artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Write a dict as JSON, or YAML when ``artifact_file`` ends in .yaml/.yml."""
        path = check.artifact_path(artifact_file, "artifact_file")
        self._write_artifact(run_id, path, dict_bytes(dictionary, path))

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Save a PIL image or numpy array; the format follows the extension (e.g. ``.png``).

        With ``key`` (and optional ``step``) instead of ``artifact_file`` the image is stored as
        ``images/<key>/step_<step>_<timestamp>.png``, a series per key (MLflow's own naming of
        image series differs). ``synchronous`` is accepted for MLflow compatibility; images are
        always written before the call returns.
        """
        if (artifact_file is None) == (key is None):
            raise InvalidInputError("log_image needs exactly one of artifact_file or key")
        if key is not None:
            key = check.key("Image", key)
            ts = check.timestamp(key, timestamp)
            artifact_file = f"images/{key}/step_{check.step(key, step)}_{ts}.png"
        assert artifact_file is not None
        path = check.artifact_path(artifact_file, "artifact_file")
        self._write_artifact(run_id, path, image_bytes(image, path))

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Save a matplotlib or plotly figure as ``artifact_file`` (its extension picks the
        format: ``.png``, ``.svg``, ``.pdf``, plotly's ``.html``, ...), as MLflow's
        ``log_figure``; ``save_kwargs`` go to ``savefig`` / plotly's writer."""
        path = check.artifact_path(artifact_file, "artifact_file")
        self._write_artifact(run_id, path, figure_bytes(figure, path, save_kwargs))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        rel = check.artifact_path(path) if path else None
        return self._repo(run_id).list_artifacts(rel or None)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Copy an artifact file or directory to ``dst_path`` (a temp dir if None); return
        the local path."""
        rel = check.artifact_path(path or "")
        return self._repo(run_id).download_artifacts(rel, dst_path)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Log (or append to) a table: a dict of columns or a DataFrame (see design.md)."""
        from spanrun.tracking import _tables

        _tables.log_table(self, data, check.artifact_path(artifact_file, "artifact_file"), run_id)

    def load_table(
        self,
        experiment_id: str,
        artifact_file: str,
        run_ids: Sequence[str] | None = None,
        extra_columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One DataFrame of the table ``artifact_file`` over the experiment's runs."""
        from spanrun.tracking import _tables

        return _tables.load_table(
            self,
            check.artifact_path(artifact_file, "artifact_file"),
            run_ids=run_ids,
            extra_columns=extra_columns,
            experiment_ids=[_id("experiment_id", experiment_id)],
        )

    # -- traces ------------------------------------------------------------------------------
    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[TraceInfo]:
        ids = None if experiment_ids is None else [_id("experiment_id", e) for e in experiment_ids]
        return self.store.search_traces(ids, run_id, max_results, order_by, page_token)

    def get_trace(self, trace_id: str) -> Trace:
        return self.store.get_trace(_id("trace_id", trace_id))


MlflowClient = SpanrunClient
