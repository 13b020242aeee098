"""The fluent tracking API: ``spanrun.start_run()``, ``spanrun.log_metric()``, ...

Names, signatures and defaults follow MLflow's fluent API so ``import spanrun as mlflow`` ports
MLflow code. State lives on one :class:`FluentTracker`; the module functions are bound methods
of its default instance.

The active-run stack is a :class:`contextvars.ContextVar`: a thread starts with no active run
(unless it starts one), and an asyncio task sees the runs active where it was created, while
runs it starts itself stay inside the task. The active experiment and the last ended run are
process-wide, as in MLflow.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import os
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from spanrun.core.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    PagedList,
    Run,
    RunStatus,
    Trace,
    TraceInfo,
    ViewType,
)
from spanrun.core.notices import notice
from spanrun.core.process import PROCESS_TAG, current_process_tag
from spanrun.core.settings import env_setting, env_setting_group
from spanrun.core.vocabulary import NOTE_TAG, PARENT_RUN_TAG, SOURCE_NAME_TAG, SOURCE_TYPE_TAG
from spanrun.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    UnsupportedError,
)
from spanrun.tracking import _async_logging, _hooks, _uri
from spanrun.tracking import _validation as check
from spanrun.tracking._async_logging import RunOperations
from spanrun.tracking._inputs import dataset_input
from spanrun.tracking.client import SpanrunClient

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ActiveRun", "FluentTracker", "tracker"]

_log = logging.getLogger(__name__)

RUN_ID_ENV = "SPANRUN_RUN_ID"
EXPERIMENT_ID_ENV = "SPANRUN_EXPERIMENT_ID"
EXPERIMENT_NAME_ENV = "SPANRUN_EXPERIMENT_NAME"
_SEARCH_PAGE_SIZE = 50_000


class ActiveRun(Run):
    """The run returned by ``start_run()``; a context manager that ends it.

    Leaving the ``with`` block ends the run FINISHED, or FAILED when the block raised (KILLED on
    KeyboardInterrupt); the exception propagates. Nested runs still open inside the block are
    ended first with the same status (MLflow would leave the parent running). ``info`` and
    ``data`` are a snapshot taken at start: call ``spanrun.get_run(run.info.run_id)`` for
    current values.
    """

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        tracker: FluentTracker = self.__dict__["_tracker"]
        tracker._end_from_context(self.info.run_id, status, block_failed=exc_type is not None)


class FluentTracker:
    """Holds the fluent API's state: active runs, active experiment, one client per URI."""

    def __init__(self) -> None:
        self._stack: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
            f"spanrun_active_runs_{id(self)}", default=()
        )
        self._experiment_id: str | None = None
        self._last_run_id: str | None = None
        self._clients: dict[str, SpanrunClient] = {}
        self._lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------
    def client(self) -> SpanrunClient:
        """The client for the current tracking URI."""
        uri = _uri.get_tracking_uri()
        client = self._clients.get(uri)
        if client is None:
            with self._lock:
                client = self._clients.setdefault(uri, SpanrunClient(uri))
        return client

    def reset(self) -> None:
        """Forget all state of this tracker without touching stored data (for tests)."""
        self._stack.set(())
        self._experiment_id = None
        self._last_run_id = None
        with self._lock:
            self._clients.clear()

    def _run_id(self, run_id: str | None = None) -> str:
        """The explicit run id, else the active run's, else a newly started run's (as MLflow)."""
        if run_id is not None:
            return run_id
        stack = self._stack.get()
        if stack:
            return stack[-1].info.run_id
        return self.start_run().info.run_id

    # -- experiments -------------------------------------------------------------------------
    def set_experiment(
        self,
        experiment_name: str | None = None,
        experiment_id: str | None = None,
        *,
        name: str | None = None,
    ) -> Experiment:
        """Make an experiment active for new runs, creating it (by name) when missing."""
        experiment_name = experiment_name if experiment_name is not None else name
        if (experiment_name is None) == (experiment_id is None):
            raise InvalidInputError("set_experiment needs exactly one of experiment_name or id")
        client = self.client()
        if experiment_id is not None:
            experiment = client.get_experiment(experiment_id)
        else:
            assert experiment_name is not None
            found = client.get_experiment_by_name(experiment_name)
            if found is None:
                try:
                    found = client.get_experiment(client.create_experiment(experiment_name))
                except AlreadyExistsError:
                    # Created meanwhile by another thread (autolog's exporter resolving the
                    # experiment of SPANRUN_EXPERIMENT_NAME) or process: use that one.
                    found = client.get_experiment_by_name(experiment_name)
                    if found is None:
                        raise
            experiment = found
        if experiment.lifecycle_stage == LifecycleStage.DELETED:
            raise InvalidStateError(
                f"Experiment {experiment.name!r} (id {experiment.experiment_id}) is deleted; "
                "restore it with restore_experiment() or choose another name"
            )
        self._experiment_id = experiment.experiment_id
        return experiment

    def _active_experiment_id(self) -> str:
        if self._experiment_id is not None:
            return self._experiment_id
        # SPANRUN_EXPERIMENT_ID/_NAME, else MLflow's MLFLOW_EXPERIMENT_ID/_NAME (ported code).
        env = env_setting_group("EXPERIMENT_ID", "EXPERIMENT_NAME")
        if "EXPERIMENT_ID" in env:
            return env["EXPERIMENT_ID"][1]
        if "EXPERIMENT_NAME" in env:
            return self.set_experiment(env["EXPERIMENT_NAME"][1]).experiment_id
        from spanrun.store.base import DEFAULT_EXPERIMENT_ID  # lazy: keeps `import spanrun` light

        return DEFAULT_EXPERIMENT_ID

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        return self.client().create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.client().get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.client().get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
    ) -> list[Experiment]:
        """All matching experiments (every page, up to ``max_results``)."""
        _max_results(max_results, optional=True)
        out: list[Experiment] = []
        token: str | None = None
        while True:
            want = 1000 if max_results is None else min(1000, max_results - len(out))
            if want <= 0:
                return out
            page = self.client().search_experiments(view_type, want, filter_string, order_by, token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def delete_experiment(self, experiment_id: str) -> None:
        self.client().delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.client().restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.client().rename_experiment(experiment_id, new_name)

    def set_experiment_tag(self, key: str, value: Any) -> None:
        """Tag the active experiment."""
        self.client().set_experiment_tag(self._active_experiment_id(), key, value)

    def set_experiment_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.set_experiment_tag(key, value)

    def delete_experiment_tag(self, key: str) -> None:
        """Delete a tag of the active experiment (NotFoundError when it has none by that key)."""
        self.client().delete_experiment_tag(self._active_experiment_id(), key)

    # -- runs --------------------------------------------------------------------------------
    def start_run(
        self,
        run_id: str | None = None,
        experiment_id: str | None = None,
        run_name: str | None = None,
        nested: bool = False,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        log_system_metrics: bool | None = None,
    ) -> ActiveRun:
        """Start a run, or resume ``run_id``, and make it the active run.

        A second run while one is active needs ``nested=True``; the nested run records its
        parent in the ``mlflow.parentRunId`` tag. Use it as a context manager to end it.
        """
        stack = self._stack.get()
        if stack and not nested:
            raise InvalidStateError(
                f"Run {stack[-1].info.run_id} is already active. End it with end_run(), or "
                "start a child run with start_run(nested=True)"
            )
        if parent_run_id is not None and stack and stack[-1].info.run_id != parent_run_id:
            raise InvalidStateError(
                f"parent_run_id {parent_run_id} is not the active run {stack[-1].info.run_id}"
            )
        parent = parent_run_id or (stack[-1].info.run_id if stack else None)
        if log_system_metrics:
            warnings.warn(
                "spanrun does not collect system metrics yet; log_system_metrics is ignored",
                stacklevel=2,
            )
        client = self.client()
        extra_tags: dict[str, Any] = dict(_mapping("tags", tags or {}))
        if description is not None:
            description = str(description)
            extra_tags[NOTE_TAG] = check.text(f"description {description!r}", description)
        if run_id is None and not stack:
            found = env_setting("RUN_ID")  # SPANRUN_RUN_ID, else MLFLOW_RUN_ID
            run_id = found[1] if found else None
        extra_tags[PROCESS_TAG] = current_process_tag()  # ended as KILLED once it is gone
        if run_id is not None:
            run = self._resume(client, run_id, experiment_id, run_name, extra_tags, stack)
        else:
            if parent is not None:
                extra_tags[PARENT_RUN_TAG] = parent
                client.get_run(parent)  # a clear NotFoundError for a wrong parent id
            extra_tags.setdefault(SOURCE_NAME_TAG, _source_name())
            extra_tags.setdefault(SOURCE_TYPE_TAG, "LOCAL")
            exp_id = experiment_id if experiment_id is not None else self._active_experiment_id()
            run = client.create_run(str(exp_id), tags=extra_tags, run_name=run_name)
        active = ActiveRun(run.info, run.data, run.inputs)
        active.__dict__["_tracker"] = self
        self._stack.set((*stack, active))
        return active

    def _resume(
        self,
        client: SpanrunClient,
        run_id: str,
        experiment_id: str | None,
        run_name: str | None,
        tags: dict[str, Any],
        stack: tuple[ActiveRun, ...],
    ) -> Run:
        existing = client.get_run(run_id)
        if existing.info.lifecycle_stage == LifecycleStage.DELETED:
            raise InvalidStateError(f"Run {run_id} is deleted; restore it before resuming it")
        if experiment_id is not None and str(experiment_id) != existing.info.experiment_id:
            raise InvalidInputError(
                f"Run {run_id} belongs to experiment {existing.info.experiment_id}, "
                f"not {experiment_id}"
            )
        if any(a.info.run_id == run_id for a in stack):
            raise InvalidStateError(f"Run {run_id} is already active")
        client.update_run(run_id, status=RunStatus.RUNNING, name=run_name)
        if tags:
            client.log_batch(run_id, tags=[check.tag(k, v) for k, v in tags.items()])
        return client.get_run(run_id)

    def end_run(self, status: str = "FINISHED") -> None:
        """End the active run (no-op without one); queued values and spans are flushed first."""
        stack = self._stack.get()
        if stack:
            self._end(stack[-1].info.run_id, str(status), raise_errors=True)

    def _end_from_context(self, run_id: str, status: str, block_failed: bool) -> None:
        """End ``run_id`` and any child runs left open above it (leaving a ``with`` block)."""
        stack = self._stack.get()
        ids = [a.info.run_id for a in stack]
        if run_id not in ids:
            return  # already ended inside the block
        for child in reversed(ids[ids.index(run_id) + 1 :]):
            self._end(child, status, raise_errors=False)
        # When the block failed, its exception must surface, not a late logging error.
        self._end(run_id, status, raise_errors=not block_failed)

    def _end(self, run_id: str, status: str, raise_errors: bool) -> None:
        if status not in RunStatus.__members__:
            raise InvalidInputError(
                f"Invalid run status {status!r}; use one of {', '.join(RunStatus.__members__)}"
            )
        pending: BaseException | None = None
        try:
            _async_logging.flush()
        except Exception as exc:  # reported after the run is ended, not instead of it
            pending = exc
        _hooks.run_flush_hooks()
        try:
            self.client().set_terminated(run_id, status)
        finally:
            self._stack.set(tuple(a for a in self._stack.get() if a.info.run_id != run_id))
            self._last_run_id = run_id
        self._link_to_run(run_id)
        if pending is not None:
            if raise_errors:
                raise pending
            _log.error(
                "spanrun: some values queued for run %s were not written: %s", run_id, pending
            )

    def _link_to_run(self, run_id: str) -> None:
        """Where to see the run just ended, when it is on a server (as MLflow prints it)."""
        uri = _uri.get_tracking_uri()
        if uri.startswith(("http://", "https://")):
            notice(f"spanrun: view run {run_id} at {uri.rstrip('/')}/runs/{run_id}", _log)

    def active_run(self) -> ActiveRun | None:
        """The innermost active run in this thread or task, or None."""
        stack = self._stack.get()
        return stack[-1] if stack else None

    def last_active_run(self) -> Run | None:
        """The active run, else the run ended last in this process (fresh from the store)."""
        stack = self._stack.get()
        run_id = stack[-1].info.run_id if stack else self._last_run_id
        return None if run_id is None else self.client().get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        return self.client().get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        return self.client().get_parent_run(run_id)

    def delete_run(self, run_id: str) -> None:
        self.client().delete_run(run_id)

    # -- params, metrics, tags ---------------------------------------------------------------
    def log_param(self, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param of the active run; returns ``value`` (a RunOperations when queued)."""
        return self.client().log_param(self._run_id(), key, value, synchronous)

    def log_params(
        self, params: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None
    ) -> RunOperations | None:
        checked = [check.param(k, v) for k, v in _mapping("params", params).items()]
        check.batch_sizes(0, len(checked), 0)
        # Already validated: go straight to the write (validating twice costs per value).
        return self.client()._write(self._run_id(run_id), params=checked, synchronous=synchronous)

    def log_metric(
        self,
        key: str,
        value: float,
        step: int | None = None,
        synchronous: bool | None = None,
        timestamp: int | None = None,
        run_id: str | None = None,
    ) -> RunOperations | None:
        """Log a metric value of the active run (``step`` 0 by default)."""
        return self.client().log_metric(
            self._run_id(run_id), key, value, timestamp, step, synchronous
        )

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        synchronous: bool | None = None,
        run_id: str | None = None,
        timestamp: int | None = None,
    ) -> RunOperations | None:
        """Log several metrics at one step and timestamp."""
        ts = check.now_ms() if timestamp is None else timestamp
        checked = [check.metric(k, v, ts, step) for k, v in _mapping("metrics", metrics).items()]
        check.batch_sizes(len(checked), 0, 0)
        return self.client()._write(self._run_id(run_id), metrics=checked, synchronous=synchronous)

    def set_tag(
        self, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations | None:
        return self.client().set_tag(self._run_id(), key, value, synchronous)

    def set_tags(
        self, tags: Mapping[str, Any], synchronous: bool | None = None
    ) -> RunOperations | None:
        checked = [check.tag(k, v) for k, v in _mapping("tags", tags).items()]
        check.batch_sizes(0, 0, len(checked))
        return self.client()._write(self._run_id(), tags=checked, synchronous=synchronous)

    def delete_tag(self, key: str) -> None:
        self.client().delete_tag(self._run_id(), key)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.client().get_metric_history(run_id, key)

    def flush_async_logging(self) -> None:
        """Write every value queued with ``synchronous=False`` now."""
        _async_logging.flush()

    # -- artifacts ---------------------------------------------------------------------------
    def get_artifact_uri(self, artifact_path: str | None = None) -> str:
        uri = self.client().get_artifact_uri(self._run_id())
        if not artifact_path:
            return uri
        return f"{uri.rstrip('/')}/{check.artifact_path(artifact_path)}"

    def log_artifact(
        self,
        local_path: str | os.PathLike[str],
        artifact_path: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.client().log_artifact(self._run_id(run_id), local_path, artifact_path)

    def log_artifacts(
        self,
        local_dir: str | os.PathLike[str],
        artifact_path: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.client().log_artifacts(self._run_id(run_id), local_dir, artifact_path)

    def log_text(self, text: str, artifact_file: str, run_id: str | None = None) -> None:
        self.client().log_text(self._run_id(run_id), text, artifact_file)

    def log_dict(self, dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
        self.client().log_dict(self._run_id(run_id), dictionary, artifact_file)

    def log_image(
        self,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        self.client().log_image(
            self._run_id(), image, artifact_file, key, step, timestamp, synchronous
        )

    def log_figure(
        self,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Save a matplotlib or plotly figure as an artifact of the active run."""
        self.client().log_figure(self._run_id(), figure, artifact_file, save_kwargs=save_kwargs)

    def log_input(
        self,
        dataset: Any = None,
        context: str | None = None,
        tags: Mapping[str, Any] | None = None,
        model: Any = None,
    ) -> None:
        """Record that the active run used ``dataset`` (``spanrun.data.from_pandas(...)``,
        ``from_numpy(...)`` or an ``mlflow.data`` dataset), as MLflow's ``log_input``:
        ``context`` (e.g. "training", "eval") becomes the input tag ``mlflow.data.context``."""
        if dataset is None and (context or tags):
            raise InvalidInputError("log_input: `dataset` must be given with `context` or `tags`")
        self.log_inputs([dataset], [context], [tags], [model])

    def log_inputs(
        self,
        datasets: Sequence[Any] | None = None,
        contexts: Sequence[str | None] | None = None,
        tags_list: Sequence[Mapping[str, Any] | None] | None = None,
        models: Sequence[Any] | None = None,
    ) -> None:
        """``log_input`` for several datasets at once: ``datasets``, ``contexts`` and
        ``tags_list`` have the same length (None entries for no context or tags)."""
        if models and any(m is not None for m in models):
            raise UnsupportedError(
                "spanrun has no logged models, so no model inputs; log datasets with log_input"
            )
        lists = {"datasets": datasets, "contexts": contexts, "tags_list": tags_list}
        for name, value in lists.items():
            if value is not None and not isinstance(value, (list, tuple)):
                raise InvalidInputError(
                    f"log_inputs: `{name}` must be a list, got {type(value).__name__}"
                )
        datasets, contexts, tags_list = datasets or [], contexts or [], tags_list or []
        if not len(datasets) == len(contexts) == len(tags_list):
            raise InvalidInputError(
                "log_inputs needs `datasets`, `contexts` and `tags_list` of the same length, got "
                f"{len(datasets)}, {len(contexts)} and {len(tags_list)}"
            )
        inputs = [
            dataset_input(dataset, context, tags)
            for dataset, context, tags in zip(datasets, contexts, tags_list, strict=True)
            if dataset is not None
        ]
        run_id = self._run_id()
        if inputs:
            self.client().log_inputs(run_id, inputs)

    def log_table(self, data: Any, artifact_file: str, run_id: str | None = None) -> None:
        """Log (or append to) a table artifact: a dict of columns or a DataFrame."""
        self.client().log_table(self._run_id(run_id), data, artifact_file)

    def load_table(
        self,
        artifact_file: str,
        run_ids: Sequence[str] | None = None,
        extra_columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The table ``artifact_file`` of the active experiment's runs, as one DataFrame."""
        return self.client().load_table(
            self._active_experiment_id(), artifact_file, run_ids, extra_columns
        )

    # -- search ------------------------------------------------------------------------------
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 100_000,
        order_by: Sequence[str] | None = None,
        output_format: Literal["pandas", "list"] = "pandas",
        search_all_experiments: bool = False,
        experiment_names: Sequence[str] | None = None,
    ) -> pd.DataFrame | list[Run]:
        """Runs matching ``filter_string`` as a DataFrame (or a list of Run)."""
        if output_format not in ("pandas", "list"):
            raise InvalidInputError(
                f"output_format must be 'pandas' or 'list', got {output_format!r}"
            )
        _max_results(max_results)
        ids = self._search_experiment_ids(experiment_ids, experiment_names, search_all_experiments)
        runs: list[Run] = []
        token: str | None = None
        client = self.client()
        while ids and len(runs) < max_results:
            want = min(_SEARCH_PAGE_SIZE, max_results - len(runs))
            page = client.search_runs(ids, filter_string, run_view_type, want, order_by, token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        if output_format == "list":
            return runs
        from spanrun.tracking._runs_frame import runs_to_frame

        return runs_to_frame(runs)

    def _search_experiment_ids(
        self,
        experiment_ids: Sequence[str] | None,
        experiment_names: Sequence[str] | None,
        search_all: bool,
    ) -> list[str]:
        if experiment_ids is not None and experiment_names is not None:
            raise InvalidInputError("Pass experiment_ids or experiment_names, not both")
        if experiment_names is not None:
            if isinstance(experiment_names, str):
                experiment_names = [experiment_names]
            found = (self.client().get_experiment_by_name(n) for n in experiment_names)
            return [e.experiment_id for e in found if e is not None]
        if experiment_ids is not None:
            if isinstance(experiment_ids, (str, int)):
                return [str(experiment_ids)]
            return [str(e) for e in experiment_ids]
        if search_all:
            return [e.experiment_id for e in self.search_experiments(ViewType.ALL)]
        return [self._active_experiment_id()]

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        run_id: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[TraceInfo]:
        """Trace summaries of a run, or of experiments (the active one by default).

        Unlike MLflow's, this returns a list of :class:`TraceInfo` (with ``.token`` for the next
        page), not a DataFrame; ``get_trace(trace_id)`` gives the spans.
        """
        if experiment_ids is None and run_id is None:
            experiment_ids = [self._active_experiment_id()]
        return self.client().search_traces(
            experiment_ids, run_id, max_results, order_by, page_token
        )

    def get_trace(self, trace_id: str) -> Trace:
        return self.client().get_trace(trace_id)

    # -- exit ----------------------------------------------------------------------------------
    def _at_exit(self) -> None:
        """Flush queued values and end the runs still active in the main context (FINISHED)."""
        try:
            stack = self._stack.get()
            for active in reversed(stack):
                self._end(active.info.run_id, RunStatus.FINISHED.value, raise_errors=False)
            _async_logging.flush()
        except Exception:
            _log.exception("spanrun: could not end the active runs at exit")


def _mapping(what: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a dict, got {type(value).__name__}")
    return value


def _source_name() -> str:
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "<interactive>"
    # A script path with undecodable bytes holds lone surrogates, which no store can keep.
    return argv0[:500].encode("utf-8", "replace").decode("utf-8")


def _max_results(value: Any, optional: bool = False) -> None:
    """A positive int (MLflow refuses zero and negatives too), or None when ``optional``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            f"Invalid value {value!r} for parameter 'max_results': it must be a positive integer"
        )


tracker = FluentTracker()
atexit.register(tracker._at_exit)
