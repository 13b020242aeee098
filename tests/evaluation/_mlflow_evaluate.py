"""Run by the parity test in the stock MLflow venv: MLflow's evaluate on the given data, with
predictions from a column, printed as JSON (metrics and results table per case); then MLflow's
openai flavor reads spanrun's model spec and saves one of its own for spanrun to read."""

import json
import sys

import mlflow
import pandas as pd

tracking_uri, cases_json, our_spec_dir, their_spec_dir = sys.argv[1:5]
mlflow.set_tracking_uri(tracking_uri)
out = {}
for name, case in json.loads(cases_json).items():
    data = pd.DataFrame(case.pop("data"))
    with mlflow.start_run():
        result = mlflow.evaluate(data=data, **case)
    table = result.tables["eval_results_table"]
    out[name] = {
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "columns": list(table.columns),
        "table": {str(c): table[c].tolist() for c in table.columns},
    }
out["spanrun_spec_read_by_mlflow"] = mlflow.openai.load_model(our_spec_dir)
mlflow.openai.save_model(
    model="gpt-4o-mini",
    task="chat.completions",
    path=their_spec_dir,
    messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{q}"}],
    temperature=0.5,
    pip_requirements=["openai"],
)
print("RESULT " + json.dumps(out))
