"""Run by the stock MLflow client's python (.venv-mlflow), with MLFLOW_TRACKING_URI pointing at
a spanrun server: MLflow's dataset inputs, logged and read back, printed as JSON.

Usage: python _mlflow_inputs_script.py <run id that spanrun logged a dataset to>
Imports nothing of spanrun (it is not installed there).
"""

from __future__ import annotations

import json
import sys

import mlflow
import pandas as pd
from mlflow import MlflowClient


def inputs(dataset_inputs: list) -> list:  # type: ignore[type-arg]
    return [
        {"dataset": d.dataset.to_dictionary(), "tags": {t.key: t.value for t in d.tags}}
        for d in dataset_inputs
    ]


def main() -> None:
    spanrun_run_id = sys.argv[1]
    df = pd.DataFrame({"question": ["2+2?", "capital of France?"], "label": [4, 0]})
    mlflow.set_experiment("inputs-e2e")
    with mlflow.start_run() as run:
        dataset = mlflow.data.from_pandas(df, name="eval", source="data/eval.csv", targets="label")
        mlflow.log_input(dataset, context="eval", tags={"k": "v"})
        mlflow.log_input(dataset, context="again")  # the run keeps the first use's tags
        train = mlflow.data.from_pandas(df.head(1), name="train", source="s3://bucket/t.csv")
        mlflow.log_input(train, context="training")
    client = MlflowClient()
    (found,) = mlflow.search_runs(
        experiment_names=["inputs-e2e"],
        filter_string=f"attributes.run_id = '{run.info.run_id}'",
        output_format="list",
    )
    print(
        json.dumps(
            {
                "run_id": run.info.run_id,
                "logged": dataset.to_dict(),
                "got": inputs(client.get_run(run.info.run_id).inputs.dataset_inputs),
                "searched": inputs(found.inputs.dataset_inputs),
                "spanrun_run": inputs(client.get_run(spanrun_run_id).inputs.dataset_inputs),
                "by_dataset": sorted(
                    r.info.run_id
                    for r in mlflow.search_runs(
                        experiment_names=["inputs-e2e"],
                        filter_string="datasets.name = 'eval' and datasets.context = 'spanrun'",
                        output_format="list",
                    )
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
