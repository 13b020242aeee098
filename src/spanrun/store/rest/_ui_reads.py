"""The UI's reads over HTTP: one request each to a spanrun server's endpoints
(``/api/2.0/spanrun/runs/get-many``, ``metrics/get-histories``, ``runs/count``,
``runs/distinct-keys``); against a
stock MLflow server, ``Store``'s defaults built from MLflow's routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spanrun.core.entities import Run, ViewType
from spanrun.errors import StoreError
from spanrun.store.base import MetricHistory, RunKeys, TraceFilter
from spanrun.store.rest._base import SPANRUN, RestBase
from spanrun.store.rest._wire import metric_from_json, view_type_name

__all__ = ["UiReadMethods", "trace_filter_json"]


def trace_filter_json(found: TraceFilter | None) -> dict[str, Any]:
    """The fields of a ``traces/search`` body for ``found``."""
    if found is None:
        return {}
    fields = {
        "status": found.status,
        "name": found.name,
        "min_duration_ms": found.min_duration_ms,
        "max_duration_ms": found.max_duration_ms,
        "start_from_ms": found.start_from_ms,
        "start_to_ms": found.start_to_ms,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _strings(answer: dict[str, Any], name: str) -> list[str]:
    found = answer.get(name) or []
    if not isinstance(found, list):
        raise StoreError(f"The tracking server sent a malformed {name!r} list")
    return [str(v) for v in found]


class UiReadMethods(RestBase):
    """Mixed into ``RestStore``."""

    def _run(self, item: Mapping[str, Any]) -> Run:
        raise NotImplementedError  # RestStore's

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        if self.server_kind() != "spanrun":
            return super().get_runs(run_ids)
        body = {"run_ids": list(run_ids)}
        answer = self._http.call("POST", f"{SPANRUN}/runs/get-many", body=body)
        runs = answer.get("runs") or []
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise StoreError("The tracking server sent a malformed run list")
        return [self._run(r) for r in runs]

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], max_points: int | None = None
    ) -> list[MetricHistory]:
        if self.server_kind() != "spanrun":
            return super().get_metric_histories(run_ids, keys, max_points)
        body: dict[str, Any] = {"run_ids": list(run_ids), "keys": list(keys)}
        if max_points is not None:
            body["max_points"] = max_points
        answer = self._http.call("POST", f"{SPANRUN}/metrics/get-histories", body=body)
        try:
            return [
                MetricHistory(
                    run_id=str(h["run_id"]),
                    key=str(h["key"]),
                    points=[metric_from_json(m) for m in h.get("metrics") or ()],
                    total=int(h["total"]),
                )
                for h in answer.get("histories") or ()
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"The tracking server sent malformed histories ({exc!r})") from None

    def count_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    ) -> int:
        if self.server_kind() != "spanrun":
            return super().count_runs(experiment_ids, filter_string, run_view_type)
        body = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "run_view_type": view_type_name(run_view_type),
        }
        count = self._search(f"{SPANRUN}/runs/count", body).get("count")
        if not isinstance(count, int):
            raise StoreError("The tracking server sent a malformed run count")
        return count

    def distinct_keys(
        self,
        experiment_ids: Sequence[str],
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    ) -> RunKeys:
        if self.server_kind() != "spanrun":
            return super().distinct_keys(experiment_ids, run_view_type)
        body = {
            "experiment_ids": list(experiment_ids),
            "run_view_type": view_type_name(run_view_type),
        }
        answer = self._http.call("POST", f"{SPANRUN}/runs/distinct-keys", body=body)
        return RunKeys(
            _strings(answer, "params"), _strings(answer, "metrics"), _strings(answer, "tags")
        )
