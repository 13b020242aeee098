"""search_runs (pandas and list), experiment selection, and traces."""

from __future__ import annotations

import pandas as pd
import pytest

import spanrun
from spanrun.core.entities import SpanRecord
from spanrun.errors import InvalidFilterError, InvalidInputError, NotFoundError


@pytest.fixture
def runs() -> list[str]:
    spanrun.set_experiment("search")
    ids = []
    for i, model in enumerate(["gpt-4o", "gpt-4o-mini", "gpt-4o"]):
        with spanrun.start_run(run_name=f"r{i}", tags={"team": "nlp" if i else "cv"}) as run:
            spanrun.log_param("model", model)
            spanrun.log_metric("acc", 0.5 + i * 0.2)
        ids.append(run.info.run_id)
    return ids


def test_pandas_frame_layout(runs: list[str]) -> None:
    df = spanrun.search_runs(order_by=["metrics.acc DESC"])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:6]) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert {"metrics.acc", "params.model", "tags.team", "tags.mlflow.runName"} <= set(df.columns)
    assert list(df["run_id"]) == runs[::-1]
    assert str(df["start_time"].dtype).startswith("datetime64") and df["start_time"].dt.tz
    assert df["metrics.acc"].dtype == "float64"
    assert (df["status"] == "FINISHED").all()


def test_filter_grammar(runs: list[str]) -> None:
    df = spanrun.search_runs(filter_string="metrics.acc > 0.6 and params.model = 'gpt-4o'")
    assert list(df["run_id"]) == [runs[2]]
    got = spanrun.search_runs(filter_string="tags.team LIKE 'nl%'", output_format="list")
    assert {r.info.run_id for r in got} == set(runs[1:])
    with pytest.raises(InvalidFilterError):
        spanrun.search_runs(filter_string="metrics.acc >>> 1")


def test_experiment_selection_and_limits(runs: list[str]) -> None:
    other = spanrun.create_experiment("other")
    with spanrun.start_run(experiment_id=other):
        pass
    assert len(spanrun.search_runs()) == 3  # the active experiment
    assert len(spanrun.search_runs(experiment_names=["search", "other", "missing"])) == 4
    assert len(spanrun.search_runs(experiment_ids=[other])) == 1
    assert len(spanrun.search_runs(search_all_experiments=True)) == 4
    assert len(spanrun.search_runs(max_results=2, output_format="list")) == 2
    with pytest.raises(InvalidInputError):
        spanrun.search_runs(experiment_ids=[other], experiment_names=["other"])
    with pytest.raises(InvalidInputError, match="view type"):
        spanrun.search_runs(run_view_type=7)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="output_format"):
        spanrun.search_runs(output_format="json")  # type: ignore[arg-type]


def test_empty_result_keeps_the_base_columns() -> None:
    df = spanrun.search_runs(filter_string="params.model = 'nothing'")
    assert len(df) == 0 and "run_id" in df.columns


def test_traces_of_a_run(client: spanrun.SpanrunClient) -> None:
    with spanrun.start_run() as run:
        pass
    span = SpanRecord(
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None,
        name="chat gpt-4o-mini",
        kind="CLIENT",
        start_time_ns=1_000,
        end_time_ns=2_000,
        attributes={"gen_ai.operation.name": "chat"},
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
    )
    client.store.log_spans([span])
    infos = spanrun.search_traces(run_id=run.info.run_id)
    assert [t.trace_id for t in infos] == ["1" * 32]
    assert [t.trace_id for t in spanrun.search_traces()] == ["1" * 32]
    trace = spanrun.get_trace("1" * 32)
    assert trace.spans[0].name == "chat gpt-4o-mini"
    assert client.get_trace("1" * 32).info.run_id == run.info.run_id
    with pytest.raises(NotFoundError):
        spanrun.get_trace("f" * 32)
