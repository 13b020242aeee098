"""spanrun's log_input through the REST store into a real stock ``mlflow server`` (MLflow 3.x):
MLflow stores and dedupes the dataset inputs, and the REST store reads them back."""

from __future__ import annotations

import uuid

import pandas as pd

import spanrun
from spanrun.entities import InputTag


def test_log_input_into_a_stock_mlflow_server(mlflow_server_uri: str) -> None:
    spanrun.set_tracking_uri(mlflow_server_uri)
    spanrun.set_experiment(f"test-{uuid.uuid4().hex[:12]}")
    df = pd.DataFrame({"question": ["2+2?", "capital of France?"], "label": [4, 0]})
    dataset = spanrun.data.from_pandas(df, name="eval", source="https://example.org/eval.csv")
    with spanrun.start_run() as run:
        spanrun.log_input(dataset, context="eval")
        spanrun.log_input(dataset, context="again")  # MLflow keeps the first use
        spanrun.log_inputs(
            [spanrun.data.from_pandas(df.head(1), name="train")], ["training"], [None]
        )
    inputs = spanrun.get_run(run.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["eval", "train"]
    assert inputs[0].dataset == dataset.to_entity()
    assert inputs[0].tags == (InputTag("mlflow.data.context", "eval"),)
    (found,) = spanrun.search_runs(output_format="list")
    assert found.inputs.dataset_inputs == inputs
