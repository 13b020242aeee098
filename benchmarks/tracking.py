"""Tracking API throughput, spanrun vs MLflow, both on SQLite, printed side by side.

    python benchmarks/tracking.py                  # full size: a few minutes
    python benchmarks/tracking.py --scale 0.3      # fewer calls per row (rates stay comparable)
    python benchmarks/tracking.py --search-runs 2000 --skip-mlflow
    python benchmarks/tracking.py --rounds 3       # interleaved rounds, medians (noisy machines)

MLflow (latest from PyPI) runs in its own venv (``.bench/mlflow``, made by ``_env.py``); each
library's part runs in its own subprocess with its own fresh database in a temporary directory.
Both parts run the very same fluent code (``import spanrun as m`` / ``import mlflow as m``),
except for one setup step: the 10,000 runs that ``search_runs`` is timed over are created with
``client.create_run`` + ``client.log_batch(synchronous=False)`` for spanrun, and for MLflow (whose
client needs about 15 minutes for that here) by bulk-inserting the same rows into MLflow's own
tables through its SQLAlchemy models. Only the search itself is timed.

Rates are calls (or values, or runs) per second; "ms" rows are milliseconds (median of several
repetitions). Call counts differ per library (MLflow is slower) but each row measures the same
operation; the ratio column is spanrun's advantage (higher is better for spanrun).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# (key, label, unit, higher is better)
ROWS = [
    ("sync_log_metric", "log_metric, synchronous", "calls/s", True),
    ("async_log_metric", "log_metric(synchronous=False), until written", "values/s", True),
    ("log_metrics_calls", "log_metrics, 100 keys", "calls/s", True),
    ("log_metrics_values", "log_metrics, 100 keys", "values/s", True),
    ("create_runs", "runs with 5 params + 5 metrics", "runs/s", True),
    ("search_runs_ms", "search_runs, params+metrics filter, N runs", "ms", False),
    ("log_table_ms", "log_table, 1,000 rows", "ms", False),
    ("load_table_ms", "load_table, 1,000 rows", "ms", False),
    ("log_param", "log_param", "calls/s", True),
]

# Calls per row at --scale 1 (MLflow gets fewer: at ~100-300 calls/s more would take minutes).
COUNTS = {
    "spanrun": {"sync": 5000, "async": 200_000, "metrics100": 1000, "runs": 1000, "params": 3000},
    "mlflow": {"sync": 500, "async": 500, "metrics100": 100, "runs": 200, "params": 300},
}
SEARCH_FILTER = "params.model = 'model-3' and metrics.accuracy > 0.9"


# -- worker side (runs inside each library's interpreter) -------------------------------------
def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _clock() -> tuple[float, float]:
    """Wall-clock and this process's CPU time (all threads), for :func:`_since`."""
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds) since ``start``."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


def _work(lib: str, workdir: str, scale: float, search_runs: int) -> dict[str, Any]:
    os.chdir(workdir)  # MLflow's default artifact root is relative to the working directory
    if lib == "mlflow":
        import mlflow as m
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param
    else:
        import spanrun as m
        from spanrun import Metric, MlflowClient, Param

    counts = {k: max(10, int(v * scale)) for k, v in COUNTS[lib].items()}
    m.set_tracking_uri(f"sqlite:///{workdir}/{lib}.db")
    m.set_experiment("bench")  # creates the database (and runs migrations) untimed
    out: dict[str, Any] = {"version": getattr(m, "__version__", "?"), "counts": counts}
    out["file"] = m.__file__
    cpu_us: dict[str, float] = {}  # CPU microseconds per call (value, run) of each row
    out["cpu_us"] = cpu_us

    with m.start_run():
        for i in range(20):
            m.log_metric("warmup", i)
        n = counts["sync"]
        t = _clock()
        for i in range(n):
            m.log_metric("sync", i * 0.5, step=i)
        wall, cpu = _since(t)
        out["sync_log_metric"] = _rate(n, wall)
        cpu_us["sync_log_metric"] = cpu / n * 1e6

    with m.start_run() as run:
        m.log_metric("warm_async", 1.0, synchronous=False)
        m.flush_async_logging()
        n = counts["async"]
        t = _clock()
        for i in range(n):
            m.log_metric("async", i * 0.5, step=i, synchronous=False)
        m.flush_async_logging()
        wall, cpu = _since(t)
        out["async_log_metric"] = _rate(n, wall)
        cpu_us["async_log_metric"] = cpu / n * 1e6
        written = len(MlflowClient().get_metric_history(run.info.run_id, "async"))
        out["async_written"] = f"{written}/{n}"

    with m.start_run():
        n = counts["metrics100"]
        t = _clock()
        for i in range(n):
            m.log_metrics({f"key_{j}": i + j * 0.01 for j in range(100)}, step=i)
        seconds, cpu = _since(t)
        out["log_metrics_calls"] = _rate(n, seconds)
        out["log_metrics_values"] = _rate(n * 100, seconds)
        cpu_us["log_metrics_calls"] = cpu / n * 1e6

    n = counts["runs"]
    t = _clock()
    for i in range(n):
        with m.start_run():
            m.log_params({f"p{j}": f"value-{i}-{j}" for j in range(5)})
            m.log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})
    wall, cpu = _since(t)
    out["create_runs"] = _rate(n, wall)
    cpu_us["create_runs"] = cpu / n * 1e6

    with m.start_run():
        n = counts["params"]
        t = _clock()
        for i in range(n):
            m.log_param(f"param_{i}", i)
        wall, cpu = _since(t)
        out["log_param"] = _rate(n, wall)
        cpu_us["log_param"] = cpu / n * 1e6

    rows = {"question": [f"question {i}?" for i in range(1000)], "score": list(range(1000))}
    with m.start_run() as run:
        log_ms, load_ms, log_cpu, load_cpu = [], [], [], []
        for rep in range(3):
            t = _clock()
            m.log_table(rows, artifact_file=f"table_{rep}.json")
            wall, cpu = _since(t)
            log_ms.append(wall * 1000)
            log_cpu.append(cpu * 1e6)
            t = _clock()
            table = m.load_table(f"table_{rep}.json", run_ids=[run.info.run_id])
            wall, cpu = _since(t)
            load_ms.append(wall * 1000)
            load_cpu.append(cpu * 1e6)
            assert len(table) == 1000, len(table)
    out["log_table_ms"] = statistics.median(log_ms)
    out["load_table_ms"] = statistics.median(load_ms)
    cpu_us["log_table_ms"] = statistics.median(log_cpu)
    cpu_us["load_table_ms"] = statistics.median(load_cpu)

    experiment_id = m.create_experiment("search")
    t = time.perf_counter()
    if lib == "mlflow":
        _mlflow_bulk_runs(MlflowClient(), experiment_id, search_runs)
    else:
        client = MlflowClient()
        for i in range(search_runs):
            run_id = client.create_run(experiment_id).info.run_id
            client.log_batch(
                run_id, metrics=_metrics(Metric, i), params=_params(Param, i), synchronous=False
            )
        m.flush_async_logging()
    out["search_setup_s"] = time.perf_counter() - t
    m.search_runs([experiment_id], filter_string=SEARCH_FILTER)  # warm caches, untimed
    times, cpus, found = [], [], 0
    for _ in range(5):
        t = _clock()
        frame = m.search_runs([experiment_id], filter_string=SEARCH_FILTER)
        wall, cpu = _since(t)
        times.append(wall * 1000)
        cpus.append(cpu * 1e6)
        found = len(frame)
    out["search_runs_ms"] = statistics.median(times)
    cpu_us["search_runs_ms"] = statistics.median(cpus)
    out["search_found"] = found
    return out


def _values(i: int) -> tuple[dict[str, str], dict[str, float]]:
    # Deterministic per run index, so both libraries hold the same 10,000 runs.
    rnd = random.Random(i)
    params = {"model": f"model-{i % 10}", "prompt": f"v{i % 7}", "temperature": "0.2"}
    params.update({"seed": str(i), "batch": str(2 ** (i % 5))})
    metrics = {"accuracy": rnd.random(), "loss": rnd.random(), "latency_ms": rnd.random() * 900}
    metrics.update({"tokens": float(rnd.randint(10, 4000)), "cost": rnd.random() / 100})
    return params, metrics


def _params(cls: Any, i: int) -> list[Any]:
    return [cls(k, v) for k, v in _values(i)[0].items()]


def _metrics(cls: Any, i: int) -> list[Any]:
    now = int(time.time() * 1000)
    return [cls(k, v, now, 0) for k, v in _values(i)[1].items()]


def _mlflow_bulk_runs(client: Any, experiment_id: str, count: int) -> None:
    """The same runs as spanrun's, inserted straight into MLflow's tables (setup only)."""
    from mlflow.store.tracking.dbmodels import models as db

    store = client._tracking_client.store
    now = int(time.time() * 1000)
    runs, params, metrics, tags = [], [], [], []
    for i in range(count):
        run_id = uuid.uuid4().hex
        runs.append(
            {
                "run_uuid": run_id,
                "name": f"run-{i}",
                "source_type": "LOCAL",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": now,
                "end_time": now + 1,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"mlruns/{experiment_id}/{run_id}/artifacts",
                "experiment_id": int(experiment_id),
            }
        )
        p, mt = _values(i)
        params += [{"key": k, "value": v, "run_uuid": run_id} for k, v in p.items()]
        metrics += [
            {"key": k, "value": v, "timestamp": now, "step": 0, "is_nan": False, "run_uuid": run_id}
            for k, v in mt.items()
        ]
        tags.append({"key": "mlflow.runName", "value": f"run-{i}", "run_uuid": run_id})
    with store.engine.begin() as conn:
        conn.execute(db.SqlRun.__table__.insert(), runs)
        conn.execute(db.SqlParam.__table__.insert(), params)
        conn.execute(db.SqlMetric.__table__.insert(), metrics)
        conn.execute(db.SqlLatestMetric.__table__.insert(), metrics)
        conn.execute(db.SqlTag.__table__.insert(), tags)


# -- driver side --------------------------------------------------------------------------------
def _run_part(python: str, lib: str, scale: float, search_runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{lib}-") as workdir:
        cmd = [python, __file__, "--worker", lib, "--workdir", workdir]
        cmd += ["--scale", str(scale), "--search-runs", str(search_runs)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "MLFLOW_ENABLE_ASYNC_LOGGING": "false"}
        for name in ("SPANRUN_ENABLE_ASYNC_LOGGING", "SPANRUN_TRACKING_URI"):
            env.pop(name, None)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"{lib} part failed (exit {proc.returncode})")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_part(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-row medians over rounds (other fields from the first round)."""
    merged = dict(results[0])
    for key, *_ in ROWS:
        merged[key] = statistics.median(r[key] for r in results)
        if key in merged.get("cpu_us", {}):
            merged["cpu_us"] = {
                **merged["cpu_us"],
                key: statistics.median(r["cpu_us"][key] for r in results),
            }
    return merged


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply call counts")
    parser.add_argument("--search-runs", type=int, default=10_000, help="runs to search over")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure spanrun only")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, report medians")
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line of spanrun's figures (ab.py)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(_work(args.worker, args.workdir, args.scale, args.search_runs)))
        return

    pythons = {"spanrun": sys.executable}
    if not args.skip_mlflow:
        sys.path.insert(0, str(ROOT))
        from benchmarks._env import ensure_venv

        pythons["mlflow"] = str(ensure_venv("mlflow", ["mlflow"]))
    rounds: dict[str, list[dict[str, Any]]] = {lib: [] for lib in pythons}
    order = list(pythons)
    for _ in range(args.rounds):  # interleaved (A B, B A, ...) so load drifts hit both sides
        for lib in order:
            rounds[lib].append(_run_part(pythons[lib], lib, args.scale, args.search_runs))
        order.reverse()
    parts = {lib: _median_part(results) for lib, results in rounds.items()}

    ours, theirs = parts["spanrun"], parts.get("mlflow", {})
    print(
        f"\nspanrun {ours['version']} vs MLflow {theirs.get('version', '(skipped)')}, SQLite, "
        f"{args.rounds} round(s), search over {args.search_runs:,} runs "
        f"(filter: {SEARCH_FILTER})\n"
    )
    header = (
        f"| {'operation':<48} | {'unit':<8} | {'spanrun':>10} | {'MLflow':>10} | {'ratio':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for key, label, unit, higher in ROWS:
        a, b = ours.get(key), theirs.get(key)
        if a is not None and b is not None and a > 0 and b > 0:
            ratio = f"{(a / b if higher else b / a):,.1f}x"
        else:
            ratio = "-"
        label = label.replace("N runs", f"{args.search_runs:,} runs")
        print(
            f"| {label:<48} | {unit:<8} | {_fmt(a, unit):>10} | {_fmt(b, unit):>10} | {ratio:>7} |"
        )
    print()
    for lib, part in parts.items():
        print(
            f"{lib}: async values written {part['async_written']}, search found "
            f"{part['search_found']} runs, setup of the searched runs "
            f"{part['search_setup_s']:.1f} s, calls per row {part['counts']}"
        )
    print()
    print(
        "spanrun, CPU time per call (us, whole process; ms rows: per operation): "
        + ", ".join(f"{key} {value:,.1f}" for key, value in ours["cpu_us"].items())
    )
    if args.json:
        figures: dict[str, dict[str, Any]] = {}
        for key, _, unit, higher in ROWS:
            better = "higher" if higher else "lower"
            figures[key] = {"value": ours[key], "unit": unit, "better": better}
        for key, value in ours["cpu_us"].items():
            figures[f"{key.removesuffix('_ms')}_cpu_us"] = {
                "value": value,
                "unit": "us CPU/op",
                "better": "lower",
            }
        print(json.dumps({"workers": [ours["file"]], "figures": figures}))


if __name__ == "__main__":
    main()
