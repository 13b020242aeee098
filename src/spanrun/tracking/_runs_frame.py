"""``search_runs(output_format="pandas")``: runs as one DataFrame, laid out like MLflow's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spanrun.core.entities import Run

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BASE_COLUMNS", "runs_to_frame"]

BASE_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Columns: run_id, experiment_id, status, artifact_uri, start_time, end_time (UTC
    datetimes), then ``metrics.*`` (NaN when absent), ``params.*`` and ``tags.*`` (None)."""
    import pandas as pd

    n = len(runs)
    base: dict[str, list[Any]] = {name: [] for name in BASE_COLUMNS}
    groups: dict[str, dict[str, list[Any]]] = {"metrics": {}, "params": {}, "tags": {}}
    for i, run in enumerate(runs):
        info = run.info
        base["run_id"].append(info.run_id)
        base["experiment_id"].append(info.experiment_id)
        base["status"].append(str(info.status))
        base["artifact_uri"].append(info.artifact_uri)
        base["start_time"].append(info.start_time)
        base["end_time"].append(info.end_time)
        for prefix, values, missing in (
            ("metrics", run.data.metrics, float("nan")),
            ("params", run.data.params, None),
            ("tags", run.data.tags, None),
        ):
            columns = groups[prefix]
            for key, value in values.items():
                column = columns.get(key)
                if column is None:
                    column = columns[key] = [missing] * n
                column[i] = value
    data: dict[str, Any] = {}
    for name in BASE_COLUMNS:
        data[name] = base[name]
    for name in ("start_time", "end_time"):
        data[name] = pd.to_datetime(pd.Series(base[name], dtype="float64"), unit="ms", utc=True)
    for prefix in ("metrics", "params", "tags"):
        for key in sorted(groups[prefix]):
            data[f"{prefix}.{key}"] = groups[prefix][key]
    # Annotated: pandas-stubs 3 (Python >= 3.11) types its constructors as Any when mypy checks
    # for Python 3.10.
    frame: pd.DataFrame = pd.DataFrame(data)
    return frame
