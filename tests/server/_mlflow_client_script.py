"""Run by the stock MLflow client's python (.venv-mlflow), with MLFLOW_TRACKING_URI pointing at
a spanrun server: the calls an MLflow user makes, and what they read back, printed as JSON.

Usage: python _mlflow_client_script.py <autologged run id> <work dir>
Imports nothing of spanrun (it is not installed there).
"""

from __future__ import annotations

import json
import os
import sys

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag


def files_under(root: str) -> dict[str, str]:
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def main() -> None:
    autolog_run_id, work = sys.argv[1], sys.argv[2]
    out: dict[str, object] = {}
    client = MlflowClient()
    experiment = mlflow.set_experiment("mlflow-client-e2e")
    out["experiment_id"] = experiment.experiment_id
    with open(os.path.join(work, "notes.txt"), "w", encoding="utf-8") as f:
        f.write("hello artifacts")
    bundle = os.path.join(work, "bundle")
    os.makedirs(os.path.join(bundle, "sub"))
    with open(os.path.join(bundle, "a.json"), "w", encoding="utf-8") as f:
        f.write('{"a": 1}')
    with open(os.path.join(bundle, "sub", "b.txt"), "w", encoding="utf-8") as f:
        f.write("B")

    with mlflow.start_run(run_name="from-mlflow") as run:
        run_id = run.info.run_id
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"model": "gpt-4o", "layers": 3})
        mlflow.log_metric("loss", 0.5, step=0)
        mlflow.log_metric("loss", 0.25, step=1)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=1)
        client.log_batch(
            run_id,
            metrics=[Metric("batch_m", float(i), 1_000 + i, i) for i in range(5)],
            params=[Param("batch_p", "x")],
            tags=[RunTag("batch_t", "y")],
        )
        mlflow.set_tag("team", "nlp")
        mlflow.log_artifact(os.path.join(work, "notes.txt"))
        mlflow.log_artifacts(bundle, artifact_path="bundle")
        mlflow.log_text("inline text", "texts/t.txt")
        out["active_artifact_uri"] = mlflow.get_artifact_uri()
    # Leaving the block ended the run (FINISHED).
    out["run_id"] = run_id
    out["listed"] = sorted([f.path, f.is_dir, f.file_size] for f in client.list_artifacts(run_id))
    out["listed_bundle"] = sorted(
        [f.path, f.is_dir, f.file_size] for f in client.list_artifacts(run_id, "bundle")
    )
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run_id, dst_path=os.path.join(work, "download")
    )
    out["downloaded"] = files_under(downloaded)
    one = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="bundle/sub/b.txt", dst_path=os.path.join(work, "one")
    )
    with open(one, encoding="utf-8") as f:
        out["one_file"] = f.read()
    found = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string="metrics.loss < 0.3 and params.model = 'gpt-4o' and tags.team = 'nlp'",
        output_format="list",
    )
    out["search"] = [r.info.run_id for r in found]
    frame = mlflow.search_runs(experiment_names=["mlflow-client-e2e"])
    out["frame_columns"] = sorted(c for c in frame.columns if c.startswith(("metrics.", "params.")))
    out["history"] = [[m.step, m.value] for m in client.get_metric_history(run_id, "loss")]
    final = client.get_run(run_id)
    out["status"] = final.info.status
    out["end_time_set"] = final.info.end_time is not None
    out["params"] = final.data.params
    out["metrics"] = final.data.metrics
    out["tags"] = {k: v for k, v in final.data.tags.items() if not k.startswith("mlflow.")}
    out["run_name"] = final.info.run_name
    out["experiments"] = sorted(e.name for e in client.search_experiments())

    autologged = client.get_run(autolog_run_id)
    csv = mlflow.artifacts.download_artifacts(
        run_id=autolog_run_id,
        artifact_path="llm_predictions.csv",
        dst_path=os.path.join(work, "auto"),
    )
    with open(csv, encoding="utf-8") as f:
        predictions = f.read()
    out["autolog"] = {
        "status": autologged.info.status,
        "params": autologged.data.params,
        "metrics": autologged.data.metrics,
        "artifacts": [f.path for f in client.list_artifacts(autolog_run_id)],
        "input_tokens": [
            [m.step, m.value] for m in client.get_metric_history(autolog_run_id, "llm.input_tokens")
        ],
        "predictions": predictions,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
