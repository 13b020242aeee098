"""spanrun server vs mlflow server, same machine, one run: the REST tracking API under load.

    python benchmarks/server.py [--requests 2000] [--batches 50] [--search-runs 10000]
                                [--mlflow-workers 1] [--skip-mlflow] [--only-search]
                                [--spanrun-store-uri postgresql://...]

Both servers run on a fresh SQLite file (spanrun on ``--spanrun-store-uri`` when given, e.g. an
empty PostgreSQL database), one worker each unless told otherwise (MLflow's best
configuration here: its default 4 workers answer a keep-alive client ~7x slower, see
../shared/peers.md), started from their own environments: spanrun from this checkout,
MLflow 3.x from ``.venv-mlflow`` (``scripts/mlflow_env.sh``; never a dependency of spanrun).
One client (``httpx``, keep-alive) drives both with the same requests. Printed, side by side:

- ``log_metric``: requests/s from one client, one metric per request;
- ``log_batch``: metric values/s from one client, 1,000 values per request;
- 8 concurrent clients: ``log_metric`` requests/s in total (8 threads, one connection each);
- ``search_runs``: p50 and p90 latency of a filtered, ordered search of 100 runs among
  ``--search-runs`` runs (each with 5 params and 5 metrics; created through spanrun's API, and
  with the same values straight into MLflow's tables unless ``--mlflow-fill-over-http``);
- ``OTLP``: LLM spans/s ingested into runs through ``POST /v1/traces`` (spanrun only: MLflow
  stores OTLP spans as traces, not runs);
- server RSS after the load (all worker processes).

Targets (issue 12): at least 5x MLflow on log_metric and log_batch, search p50 at most 50 ms at
10,000 runs, at least 10,000 LLM spans/s ingested into runs. The machine is noisy (±40%): the
ratio of the two servers measured back to back is the steadier figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
API = "/api/2.0/mlflow"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mlflow_python() -> str:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mlflow_env.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _spanrun_path() -> str:
    """Where the server's spanrun comes from: PYTHONPATH when given (ab.py's sides), else this
    checkout's sources."""
    return os.environ.get("PYTHONPATH") or str(ROOT / "src")


def _spanrun_file() -> str:
    """``spanrun.__file__`` as the server process imports it (ab.py checks it)."""
    return subprocess.run(
        [sys.executable, "-c", "import spanrun; print(spanrun.__file__)"],
        env={**os.environ, "PYTHONPATH": _spanrun_path()},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@contextlib.contextmanager
def _server(
    kind: str, tmp: Path, workers: int, store_uri: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    db = store_uri or f"sqlite:///{tmp / f'{kind}.db'}"
    artifacts = str(tmp / f"{kind}-artifacts")
    if kind == "spanrun":
        cmd = [
            sys.executable, "-m", "spanrun.cli", "server", "--backend-store-uri", db,
            "--artifacts-destination", artifacts, "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
    else:
        python = _mlflow_python()
        cmd = [
            str(Path(python).parent / "mlflow"), "server", "--backend-store-uri", db,
            "--artifacts-destination", artifacts, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers),
        ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": _spanrun_path()} if kind == "spanrun" else None
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}{API}/experiments/get?experiment_id=0", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server did not start ({cmd})")
            time.sleep(0.2)
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        proc.wait(30)


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (uvicorn/gunicorn workers), in MB."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            pids.extend(int(c) for c in children)
    return total / 1024


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    for attempt in range(5):
        try:
            r = client.post(f"{API}/{path}", json=body)
            break
        except httpx.TransportError:  # a server dropping a connection under load: again
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    r.raise_for_status()
    result: dict[str, Any] = r.json()
    return result


def _new_run(client: httpx.Client, experiment_id: str = "0") -> str:
    body = {"experiment_id": experiment_id, "start_time": int(time.time() * 1000)}
    run_id: str = _post(client, "runs/create", body)["run"]["info"]["run_id"]
    return run_id


def _rate(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def log_metric_rate(url: str, n: int) -> float:
    with httpx.Client(base_url=url) as client:
        run_id = _new_run(client)

        def go() -> None:
            now = int(time.time() * 1000)
            for i in range(n):
                body = {
                    "run_id": run_id,
                    "key": "loss",
                    "value": 1.0 / (i + 1),
                    "timestamp": now,
                    "step": i,
                }
                _post(client, "runs/log-metric", body)

        return _rate(n, go)


def log_batch_rate(url: str, batches: int, per_batch: int = 1000) -> float:
    with httpx.Client(base_url=url) as client:
        run_id = _new_run(client)
        now = int(time.time() * 1000)
        bodies = [
            {
                "run_id": run_id,
                "metrics": [
                    {
                        "key": f"m{j % 10}",
                        "value": float(j),
                        "timestamp": now,
                        "step": b * per_batch + j,
                    }
                    for j in range(per_batch)
                ],
            }
            for b in range(batches)
        ]  # fmt: skip

        def go() -> None:
            for body in bodies:
                _post(client, "runs/log-batch", body)

        return _rate(batches * per_batch, go)


def concurrent_log_metric_rate(url: str, n_per_client: int, clients: int = 8) -> float:
    runs = []
    with httpx.Client(base_url=url) as client:
        runs = [_new_run(client) for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def one(run_id: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            barrier.wait()
            now = int(time.time() * 1000)
            for i in range(n_per_client):
                body = {
                    "run_id": run_id,
                    "key": "loss",
                    "value": float(i),
                    "timestamp": now,
                    "step": i,
                }
                _post(client, "runs/log-metric", body)

    threads = [threading.Thread(target=one, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return clients * n_per_client / (time.perf_counter() - start)


def _run_values(count: int) -> Iterator[tuple[list[str], list[float]]]:
    """Each run's 5 param values and 5 metric values: 8 seeded streams, as 8 clients send."""
    per = -(-count // 8)
    for start in range(0, count, per):
        rng = random.Random(start)
        for _ in range(start, min(start + per, count)):
            params = [str(rng.randint(0, 9)) for _ in range(5)]
            yield params, [rng.random() for _ in range(5)]


# Run by MLflow's own python: the runs inserted into its tables through its SQLAlchemy models.
_MLFLOW_INSERT = """
import json, sys, time, uuid
import sqlalchemy as sa
from mlflow.store.tracking.dbmodels import models as db
path, experiment_id = sys.argv[1], int(sys.argv[2])
now = int(time.time() * 1000)
runs, params, metrics, tags = [], [], [], []
for i, (p, m) in enumerate(json.load(sys.stdin)):
    run_id = uuid.uuid4().hex
    runs.append({"run_uuid": run_id, "name": f"run-{i}", "source_type": "LOCAL",
                 "source_name": "", "entry_point_name": "", "user_id": "bench",
                 "status": "RUNNING", "start_time": now + i, "source_version": "",
                 "lifecycle_stage": "active", "experiment_id": experiment_id,
                 "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"})
    params += [{"key": f"p{k}", "value": v, "run_uuid": run_id} for k, v in enumerate(p)]
    metrics += [{"key": f"m{k}", "value": v, "timestamp": now, "step": 0, "is_nan": False,
                 "run_uuid": run_id} for k, v in enumerate(m)]
    tags.append({"key": "mlflow.runName", "value": f"run-{i}", "run_uuid": run_id})
with sa.create_engine(f"sqlite:///{path}").begin() as conn:
    for model, rows in [(db.SqlRun, runs), (db.SqlParam, params), (db.SqlMetric, metrics),
                        (db.SqlLatestMetric, metrics), (db.SqlTag, tags)]:
        conn.execute(model.__table__.insert(), rows)
"""


def fill_mlflow_runs(url: str, db_path: Path, count: int) -> str:
    """As :func:`fill_runs` (the same values), inserted into MLflow's SQLite file directly:
    through its REST API that takes longer than the whole benchmark on a loaded machine."""
    with httpx.Client(base_url=url) as client:
        name = f"search-{random.random()}"
        experiment_id: str = _post(client, "experiments/create", {"name": name})["experiment_id"]
    subprocess.run(
        [_mlflow_python(), "-c", _MLFLOW_INSERT, str(db_path), experiment_id],
        input=json.dumps(list(_run_values(count))),
        text=True,
        check=True,
    )
    return experiment_id


def fill_runs(url: str, count: int) -> str:
    """``count`` runs with 5 params and 5 metrics each in a new experiment; its id."""
    with httpx.Client(base_url=url) as client:
        name = f"search-{random.random()}"
        experiment_id: str = _post(client, "experiments/create", {"name": name})["experiment_id"]

    def make(indices: range) -> None:
        rng = random.Random(indices.start)
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in indices:
                run_id = _new_run(client, experiment_id)
                now = int(time.time() * 1000)
                _post(
                    client,
                    "runs/log-batch",
                    {
                        "run_id": run_id,
                        "params": [
                            {"key": f"p{k}", "value": str(rng.randint(0, 9))} for k in range(5)
                        ],
                        "metrics": [
                            {"key": f"m{k}", "value": rng.random(), "timestamp": now, "step": 0}
                            for k in range(5)
                        ],
                    },
                )

    per = -(-count // 8)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, [range(i, min(i + per, count)) for i in range(0, count, per)]))
    return experiment_id


def search_latency_ms(url: str, experiment_id: str, rounds: int = 30) -> tuple[float, float]:
    body = {
        "experiment_ids": [experiment_id],
        "filter": "metrics.m0 > 0.5 and params.p1 = '3'",
        "order_by": ["metrics.m1 DESC"],
        "max_results": 100,
    }
    times = []
    with httpx.Client(base_url=url, timeout=120) as client:
        _post(client, "runs/search", body)  # warm
        for _ in range(rounds):
            start = time.perf_counter()
            found = _post(client, "runs/search", body)
            times.append((time.perf_counter() - start) * 1000)
            assert found.get("runs"), "the search should find runs"
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def measure(kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    workers = args.mlflow_workers if kind == "mlflow" else args.workers
    out: dict[str, float] = {}
    store_uri = args.spanrun_store_uri if kind == "spanrun" else None
    with _server(kind, tmp, workers, store_uri) as (url, proc):
        if not args.only_search:
            print(f"  {kind}: log_metric ...", flush=True)
            out["log_metric req/s"] = log_metric_rate(url, args.requests)
            print(f"  {kind}: log_batch ...", flush=True)
            out["log_batch values/s"] = log_batch_rate(url, args.batches)
            print(f"  {kind}: 8 clients ...", flush=True)
            out["8 clients log_metric req/s"] = concurrent_log_metric_rate(url, args.requests // 8)
        print(f"  {kind}: {args.search_runs} runs for search ...", flush=True)
        if kind == "mlflow" and not args.mlflow_fill_over_http:
            experiment_id = fill_mlflow_runs(url, tmp / "mlflow.db", args.search_runs)
        else:
            experiment_id = fill_runs(url, args.search_runs)
        p50, p90 = search_latency_ms(url, experiment_id)
        out["search_runs p50 ms"] = p50
        out["search_runs p90 ms"] = p90
        if kind == "spanrun" and not args.only_search:
            print(f"  {kind}: OTLP ...", flush=True)
            out["OTLP LLM spans/s into runs"] = otlp_rate(url, args.otlp_spans)
        out["server RSS MB"] = _rss_mb(proc.pid)
    print(f"  {kind}: {out}", flush=True)
    return out


def otlp_rate(url: str, n: int) -> float:
    """LLM spans/s through ``POST /v1/traces`` (protobuf, 512 per request, 4 senders); a 200
    means the spans are committed into runs (see benchmarks/otlp_ingest.py)."""
    if str(ROOT) not in sys.path:  # run as a script: the repo root is not on the path
        sys.path.insert(0, str(ROOT))
    from benchmarks.otlp_ingest import make_bodies, send_all

    seconds, _ = send_all(f"{url}/v1/traces", make_bodies(n, 512, "bench"), 4)
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="log_metric requests")
    parser.add_argument("--batches", type=int, default=50, help="log_batch requests of 1,000")
    parser.add_argument("--search-runs", type=int, default=10_000)
    parser.add_argument("--otlp-spans", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1, help="spanrun server workers")
    parser.add_argument("--mlflow-workers", type=int, default=1)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--mlflow-fill-over-http",
        action="store_true",
        help="create MLflow's search runs through its REST API (slow) instead of its tables",
    )
    parser.add_argument(
        "--spanrun-store-uri",
        help="spanrun server's backend store (e.g. postgresql://...); default: a new SQLite file",
    )
    parser.add_argument(
        "--only-search", action="store_true", help="measure search_runs only (and RSS)"
    )
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line of spanrun's figures (ab.py)"
    )
    args = parser.parse_args()
    kinds = ["spanrun"] if args.skip_mlflow else ["spanrun", "mlflow"]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            results[kind] = measure(kind, args, Path(tmp))
    print()
    print(f"{'':32} {'spanrun':>12} {'mlflow':>12} {'ratio':>8}")
    for key, value in results["spanrun"].items():
        theirs = results.get("mlflow", {}).get(key)
        if theirs is None:
            print(f"{key:32} {value:12.1f} {'-':>12} {'-':>8}")
            continue
        lower_is_better = key.endswith(" ms") or key.endswith(" MB")
        ratio = theirs / value if lower_is_better else value / theirs
        print(f"{key:32} {value:12.1f} {theirs:12.1f} {ratio:7.1f}x")
    print("(ratio: how many times better spanrun is; >1 is better)")
    if args.json:
        figures = {
            key: {
                "value": value,
                "unit": key.rsplit(" ", 1)[-1],
                "better": "lower" if key.endswith((" ms", " MB")) else "higher",
            }
            for key, value in results["spanrun"].items()
        }
        print(json.dumps({"spanrun": _spanrun_file(), "figures": figures}))


if __name__ == "__main__":
    main()
