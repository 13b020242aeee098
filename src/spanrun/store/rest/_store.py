"""RestStore: the Store interface over MLflow's REST API 2.0 (a spanrun or a stock MLflow server).

Experiments, runs, params, metrics, tags and searches use MLflow's routes, which both servers
serve; spans, traces and export batches are :mod:`spanrun.store.rest._traces`'. Artifacts are
not the store's: run artifact URIs are served by ``spanrun.artifacts``' HTTP repository.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from spanrun.core.entities import (
    DatasetInput,
    Experiment,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from spanrun.core.text import bad_character, describe_bad_character
from spanrun.errors import InvalidFilterError, InvalidInputError, NotFoundError
from spanrun.store._common import run_info_values
from spanrun.store._downsample import check_max_points, downsample
from spanrun.store._search_filter import Entity, parse_filter, parse_order_by
from spanrun.store.rest._base import ARTIFACTS_ENDPOINT, MLFLOW
from spanrun.store.rest._traces import TraceMethods
from spanrun.store.rest._ui_reads import UiReadMethods
from spanrun.store.rest._wire import (
    dataset_input_to_json,
    experiment_from_json,
    metric_from_json,
    metric_row_to_json,
    metric_to_json,
    param_to_json,
    run_from_json,
    run_info_from_json,
    tags_to_json,
    view_type_name,
)

__all__ = ["MAX_METRICS_PER_BATCH", "MAX_PARAMS_PER_BATCH", "MAX_TAGS_PER_BATCH", "RestStore"]

# MLflow's per-request limits of runs/log-batch (and 1000 items in all).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100


class RestStore(UiReadMethods, TraceMethods):
    """Tracking data on a server at ``tracking_uri`` (``http(s)://host:port[/prefix]``): a
    ``spanrun server`` or a stock ``mlflow server``.

    ``RestStore(tracking_uri, artifact_root=None, settings=None)``: one keep-alive connection
    pool per store; timeouts and bounded retries from ``settings`` (a
    :class:`~spanrun.store.rest.TransportSettings`, else the environment). ``artifact_root`` is
    unused: the server decides where artifacts go.
    """

    # -- artifact locations ----------------------------------------------------------------
    def artifact_uri(self, uri: str) -> str:
        """A location the server gave, made self-contained: ``mlflow-artifacts:/<path>`` (which
        names "the current tracking server") becomes this server's artifacts endpoint URL, so
        that a run's files are found whatever the current tracking URI is (a client made with
        an explicit URI, ``runs:/`` URIs with a ``tracking_uri``). Other locations are kept."""
        if uri.startswith("mlflow-artifacts:/") and not uri.startswith("mlflow-artifacts://"):
            return f"{self.tracking_uri}{ARTIFACTS_ENDPOINT}/{uri[len('mlflow-artifacts:/') :]}"
        return uri

    def _experiment(self, item: Mapping[str, Any]) -> Experiment:
        exp = experiment_from_json(item)
        location = self.artifact_uri(exp.artifact_location)
        return (
            exp if location == exp.artifact_location else replace(exp, artifact_location=location)
        )

    def _run_info(self, item: Mapping[str, Any]) -> RunInfo:
        info = run_info_from_json(item)
        uri = self.artifact_uri(info.artifact_uri)
        return info if uri == info.artifact_uri else replace(info, artifact_uri=uri)

    def _run(self, item: Mapping[str, Any]) -> Run:
        run = run_from_json(item)
        uri = self.artifact_uri(run.info.artifact_uri)
        return (
            run
            if uri == run.info.artifact_uri
            else replace(run, info=replace(run.info, artifact_uri=uri))
        )

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[RunTag] = ()
    ) -> str:
        body: dict[str, Any] = {"name": name, "tags": tags_to_json(tags)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        answer = self._http.call("POST", f"{MLFLOW}/experiments/create", body=body)
        return str(answer["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        answer = self._http.call(
            "GET", f"{MLFLOW}/experiments/get", params={"experiment_id": experiment_id}
        )
        return self._experiment(answer["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            answer = self._http.call(
                "GET", f"{MLFLOW}/experiments/get-by-name", params={"experiment_name": name}
            )
        except NotFoundError:
            return None
        return self._experiment(answer["experiment"])

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        order_by = self._check_search("experiment", filter_string, order_by, max_results)
        body: dict[str, Any] = {"max_results": max_results, "view_type": view_type_name(view_type)}
        _add_search_options(body, filter_string, order_by, page_token)
        answer = self._search(f"{MLFLOW}/experiments/search", body)
        return PagedList(
            [self._experiment(e) for e in answer.get("experiments") or ()],
            answer.get("next_page_token") or None,
        )

    def _check_search(
        self,
        entity: Entity,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        max_results: int,
    ) -> list[str] | None:
        """Refuse a bad search before sending it, with the local stores' errors; the order_by
        clauses as a list. A spanrun server parses with the same grammar, so the whole filter is
        checked here (errors keep their ``position``); for an MLflow server, whose grammar is
        its own, only what cannot be sent is (text without a UTF-8 form)."""
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise InvalidInputError(
                f"Invalid value {max_results!r} for parameter 'max_results': it must be an integer"
            )
        if isinstance(order_by, str):
            order_by = [order_by]
        if self.server_kind() == "spanrun":
            parse_filter(filter_string, entity)
            parse_order_by(order_by, entity)
        else:
            if filter_string is not None and not isinstance(filter_string, str):
                raise InvalidFilterError(
                    f"filter must be a string, got {type(filter_string).__name__}"
                )
            if order_by is not None and not isinstance(order_by, Sequence):
                raise InvalidFilterError(f"order_by must be a list of strings, got {order_by!r}")
            for text in [filter_string or "", *(order_by or ())]:
                index = bad_character(str(text), allow_nul=True)
                if index is not None:
                    raise InvalidFilterError(
                        f"Invalid search expression {text!r}: it contains "
                        + describe_bad_character(str(text), index),
                        position=index,
                    )
        return list(order_by) if order_by else None

    def delete_experiment(self, experiment_id: str) -> None:
        self._http.call(
            "POST", f"{MLFLOW}/experiments/delete", body={"experiment_id": experiment_id}
        )

    def restore_experiment(self, experiment_id: str) -> None:
        self._http.call(
            "POST", f"{MLFLOW}/experiments/restore", body={"experiment_id": experiment_id}
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._http.call(
            "POST",
            f"{MLFLOW}/experiments/update",
            body={"experiment_id": experiment_id, "new_name": new_name},
        )

    def set_experiment_tag(self, experiment_id: str, tag: RunTag) -> None:
        self._http.call(
            "POST",
            f"{MLFLOW}/experiments/set-experiment-tag",
            body={"experiment_id": experiment_id, "key": tag.key, "value": str(tag.value)},
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._http.call(
            "POST",
            f"{MLFLOW}/experiments/delete-experiment-tag",
            body={"experiment_id": experiment_id, "key": key},
        )

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "user_id": user_id or "",
            "start_time": start_time,
            "tags": tags_to_json(tags),
        }
        if run_name:
            body["run_name"] = run_name
        answer = self._http.call("POST", f"{MLFLOW}/runs/create", body=body)
        return self._run(answer["run"])

    def get_run(self, run_id: str) -> Run:
        answer = self._http.call("GET", f"{MLFLOW}/runs/get", params={"run_id": run_id})
        return self._run(answer["run"])

    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values = run_info_values(status, end_time, run_name)  # the local stores' checks
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id, **values}
        answer = self._http.call("POST", f"{MLFLOW}/runs/update", body=body)
        info = answer.get("run_info")
        if not isinstance(info, dict):
            return self.get_run(run_id).info
        return self._run_info(info)

    def delete_run(self, run_id: str) -> None:
        self._http.call("POST", f"{MLFLOW}/runs/delete", body={"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._http.call("POST", f"{MLFLOW}/runs/restore", body={"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """One log-batch request, or several when over MLflow's per-request limits (1000
        metrics, 100 params, 100 tags, 1000 in all): params first, so that a changed param
        fails the call before any of its metrics is written. Only a batch over the limits is
        not atomic."""
        param_list = _unique_params(params)
        tag_list = list({t.key: t for t in tags}.values())  # the last value wins, as locally
        metric_json = [metric_to_json(m) for m in metrics]
        self._post_batches(run_id, metric_json, [param_to_json(p) for p in param_list], tag_list)

    def log_checked_metrics(self, run_id: str, rows: Sequence[tuple[str, float, int, int]]) -> None:
        """Metric values in log-batch requests of 1000 (the asynchronous logger's path)."""
        if rows:
            self._post_batches(run_id, [metric_row_to_json(r) for r in rows], [], [])

    def _post_batches(
        self,
        run_id: str,
        metrics: list[dict[str, Any]],
        params: list[dict[str, str]],
        tags: list[RunTag],
    ) -> None:
        path = f"{MLFLOW}/runs/log-batch"
        tag_json = tags_to_json(tags)
        first = True
        while first or metrics or params or tag_json:
            first = False
            body = {
                "run_id": run_id,
                "params": params[:MAX_PARAMS_PER_BATCH],
                "tags": tag_json[:MAX_TAGS_PER_BATCH],
                "metrics": [],
            }
            params = params[MAX_PARAMS_PER_BATCH:]
            tag_json = tag_json[MAX_TAGS_PER_BATCH:]
            if not params:  # every param is in: metrics may follow, within the total limit
                room = MAX_METRICS_PER_BATCH - len(body["params"]) - len(body["tags"])
                body["metrics"] = metrics[:room]
                metrics = metrics[room:]
            self._http.call("POST", path, body=body)

    def log_inputs(self, run_id: str, dataset_inputs: Sequence[DatasetInput]) -> None:
        """One ``runs/log-inputs`` request (MLflow's; a spanrun or MLflow server dedupes)."""
        body = {"run_id": run_id, "datasets": [dataset_input_to_json(d) for d in dataset_inputs]}
        self._http.call("POST", f"{MLFLOW}/runs/log-inputs", body=body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._http.call("POST", f"{MLFLOW}/runs/delete-tag", body={"run_id": run_id, "key": key})

    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = None
    ) -> list[Metric]:
        if max_points is not None:
            check_max_points(max_points)
            if self.server_kind() == "spanrun":  # down-sampled by the server's database
                sampled = self.get_metric_histories([run_id], [key], max_points)
                return sampled[0].points if sampled else []
        found: list[Metric] = []
        params: dict[str, Any] = {"run_id": run_id, "metric_key": key}
        while True:
            answer = self._http.call("GET", f"{MLFLOW}/metrics/get-history", params=params)
            found.extend(metric_from_json(m) for m in answer.get("metrics") or ())
            token = answer.get("next_page_token")
            if not token:
                break
            params["page_token"] = token
        found.sort(key=lambda m: (m.step, m.timestamp))  # stable: the server's order in a tie
        return downsample(found, max_points)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        order_by = self._check_search("run", filter_string, order_by, max_results)
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "run_view_type": view_type_name(run_view_type),
            "max_results": max_results,
        }
        _add_search_options(body, filter_string, order_by, page_token)
        answer = self._search(f"{MLFLOW}/runs/search", body)
        return PagedList(
            [self._run(r) for r in answer.get("runs") or ()],
            answer.get("next_page_token") or None,
        )


def _unique_params(params: Sequence[Param]) -> list[Param]:
    """Params with repeats of the same value dropped (MLflow refuses any repeated key);
    one key with two values is the local stores' InvalidParamChangeError."""
    from spanrun.errors import InvalidParamChangeError

    seen: dict[str, Param] = {}
    for p in params:
        value = str(p.value)
        earlier = seen.get(p.key)
        if earlier is not None and earlier.value != value:
            raise InvalidParamChangeError(
                f"Param {p.key!r} is logged twice in one batch with different values: "
                f"{earlier.value!r} and {value!r}"
            )
        seen[p.key] = Param(p.key, value)
    return list(seen.values())


def _add_search_options(
    body: dict[str, Any],
    filter_string: str | None,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> None:
    """The optional fields of an MLflow search request, only when given (MLflow's defaults)."""
    if filter_string:
        body["filter"] = filter_string
    if order_by:
        body["order_by"] = order_by
    if page_token:
        body["page_token"] = page_token
