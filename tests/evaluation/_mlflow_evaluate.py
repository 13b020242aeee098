"""Run by the parity test in the stock MLflow venv: MLflow's evaluate on the given data, with
predictions from a column, printed as JSON (metrics and results table per case)."""

import json
import sys

import mlflow
import pandas as pd

tracking_uri, cases_json = sys.argv[1], sys.argv[2]
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
print("RESULT " + json.dumps(out))
