"""Run in MLflow's venv: the UI benchmark's data in an MLflow SQLite store (setup only).

    python _mlflow_ui_data.py <sqlite-uri> <runs>

Same shape as ``ui.py``'s spanrun store (``--runs`` runs of 20 params and 20 metrics, one with
a 100,000-point history), inserted straight into MLflow's tables through its SQLAlchemy models
(its client would need many minutes); prints the experiment id and run ids as JSON.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid

from mlflow.store.tracking.dbmodels import models as db
from mlflow.tracking import MlflowClient


def main() -> None:
    uri, count = sys.argv[1], int(sys.argv[2])
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("ui-benchmark")
    store = client._tracking_client.store
    rng = random.Random(7)
    now = int(time.time() * 1000)
    runs, params, metrics, tags, ids = [], [], [], [], []
    for i in range(count):
        run_id = uuid.uuid4().hex
        ids.append(run_id)
        runs.append(
            {
                "run_uuid": run_id,
                "name": f"run-{i:05d}",
                "source_type": "LOCAL",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": now + i,
                "end_time": now + i + 1000,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"mlruns/{experiment_id}/{run_id}/artifacts",
                "experiment_id": int(experiment_id),
            }
        )
        params += [
            {"key": f"param_{k:02d}", "value": f"v{rng.randrange(5)}", "run_uuid": run_id}
            for k in range(20)
        ]
        metrics += [
            {
                "key": f"metric_{k:02d}",
                "value": rng.random(),
                "timestamp": now + i,
                "step": 0,
                "is_nan": False,
                "run_uuid": run_id,
            }
            for k in range(20)
        ]
        tags.append({"key": "mlflow.runName", "value": f"run-{i:05d}", "run_uuid": run_id})
    long_history = [
        {
            "key": "long",
            "value": float(s % 1000) / 1000,
            "timestamp": now + s,
            "step": s,
            "is_nan": False,
            "run_uuid": ids[0],
        }
        for s in range(100_000)
    ]
    with store.engine.begin() as conn:
        conn.execute(db.SqlRun.__table__.insert(), runs)
        conn.execute(db.SqlParam.__table__.insert(), params)
        conn.execute(db.SqlMetric.__table__.insert(), metrics + long_history)
        conn.execute(db.SqlLatestMetric.__table__.insert(), [*metrics, long_history[-1]])
        conn.execute(db.SqlTag.__table__.insert(), tags)
    print(json.dumps({"experiment": experiment_id, "runs": ids}))


if __name__ == "__main__":
    main()
