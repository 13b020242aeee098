"""MLflow code runs unchanged after ``import spanrun as mlflow``."""

from __future__ import annotations

from pathlib import Path

import spanrun as mlflow
from spanrun import MlflowClient


def test_mlflow_quickstart_snippet(tmp_path: Path) -> None:
    # Lifted from MLflow's tracking quickstart, with only the import changed.
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    mlflow.set_experiment("MLflow Quickstart")
    params = {"solver": "lbfgs", "max_iter": 1000, "multi_class": "auto", "random_state": 8888}
    with mlflow.start_run() as run:
        mlflow.log_params(params)
        mlflow.log_metric("accuracy", 0.93)
        mlflow.set_tag("Training Info", "Basic LR model for iris data")
        for epoch in range(3):
            mlflow.log_metrics(
                {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 / (epoch + 1)}, step=epoch
            )
        mlflow.log_dict(params, "params.json")
        with mlflow.start_run(run_name="child", nested=True):
            mlflow.log_param("fold", 1)
    client = MlflowClient()
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.params["max_iter"] == "1000"
    assert finished.data.metrics["loss"] == 1.0 / 3
    history = client.get_metric_history(run.info.run_uuid, "val_loss")
    assert [m.step for m in history] == [0, 1, 2]
    experiment = mlflow.get_experiment_by_name("MLflow Quickstart")
    df = mlflow.search_runs([experiment.experiment_id], filter_string="metrics.accuracy > 0.9")
    assert list(df["run_id"]) == [run.info.run_id]
    assert df.loc[0, "params.solver"] == "lbfgs"
    assert mlflow.last_active_run().info.run_id == run.info.run_id
    assert mlflow.get_tracking_uri().endswith("mlruns.db")
