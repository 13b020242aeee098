"""spanrun quickstart: MLflow-style tracking code, with only the import changed.

    python examples/quickstart.py                 # writes into a fresh temporary directory
    python examples/quickstart.py ./my-tracking   # or into the directory you give

It creates an experiment, a run with params, a metric history, a nested run, a table and a
dict artifact, then searches the runs and prints what it finds.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import spanrun as mlflow


def main(directory: Path) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{directory / 'spanrun.db'}")
    mlflow.set_experiment("quickstart")

    for prompt_version, temperature in [("v1", 0.7), ("v2", 0.2)]:
        with mlflow.start_run(run_name=f"prompt-{prompt_version}") as run:
            mlflow.log_params({"prompt_version": prompt_version, "temperature": temperature})
            mlflow.set_tag("team", "nlp")
            for step in range(5):
                accuracy = 0.5 + step * 0.05 + (0.1 if prompt_version == "v2" else 0.0)
                mlflow.log_metric("accuracy", accuracy, step=step)
            with mlflow.start_run(run_name="eval-subset", nested=True):
                mlflow.log_metric("subset_accuracy", accuracy - 0.02)
            mlflow.log_table(
                {"question": ["2+2?", "capital of France?"], "answer": ["4", "Paris"]},
                artifact_file="eval.json",
            )
            mlflow.log_dict({"system": "Answer briefly.", "version": prompt_version}, "prompt.json")
        print(f"run {run.info.run_id} ({prompt_version}) finished")

    best = mlflow.search_runs(
        filter_string="metrics.accuracy > 0.75 and params.prompt_version = 'v2'",
        order_by=["metrics.accuracy DESC"],
    )
    print("\nruns with accuracy > 0.75:")
    print(best[["run_id", "status", "metrics.accuracy", "params.prompt_version"]].to_string())

    history = mlflow.MlflowClient().get_metric_history(best.loc[0, "run_id"], "accuracy")
    print("\naccuracy history:", [(m.step, round(m.value, 2)) for m in history])
    print("\nall eval rows:")
    print(mlflow.load_table("eval.json", extra_columns=["run_id"]).to_string())
    print(f"\ntracking data is in {directory}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1]).resolve()
        target.mkdir(parents=True, exist_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory(prefix="spanrun-quickstart-") as tmp:
            main(Path(tmp))
