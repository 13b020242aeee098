"""spanrun's REST store: logging through a ``spanrun server`` and through a stock ``mlflow
server``, side by side (the same spanrun client code; only the server differs).

    python benchmarks/rest_store.py              # a minute or two
    python benchmarks/rest_store.py --scale 0.3  # fewer calls (rates stay comparable)

Both servers run locally as subprocesses, one worker each, SQLite stores in a temporary
directory; MLflow comes from ``scripts/mlflow_env.sh`` (its own venv, never a dependency).
Rows: synchronous ``log_metric`` calls/s; ``log_metric(synchronous=False)`` values/s until
written (log-batch requests of 1,000); ``log_batch`` of 1,000 metrics, values/s; the run
exporter, LLM spans/s into runs (synthetic spans, batches of 512, one export request per batch
to a spanrun server); autolog, LLM
calls/s into runs until flushed (spanrun's local OpenAI-compatible server and the real openai
client; one export-batch request per batch to a spanrun server, log-batch calls plus MLflow's
OTLP route to an MLflow server).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT))  # benchmarks.exporter's span factory

import spanrun  # noqa: E402
from spanrun.core.entities import Metric  # noqa: E402

COUNTS = {"sync": 1000, "async": 20_000, "batches": 50, "spans": 10_000, "llm_calls": 500}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(command: list[str], port: int, cwd: str) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANRUN_", "MLFLOW_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # its job runners are not measured
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(uri + "/health", timeout=2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {command}")
            time.sleep(0.3)
        yield uri
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def _spanrun_server(tmp: str) -> contextlib.AbstractContextManager[str]:
    port = _free_port()
    return _server(
        [
            *(sys.executable, "-c", "from spanrun.cli import main; main()", "server"),
            *("--backend-store-uri", f"sqlite:///{tmp}/spanrun.db", "--port", str(port)),
            *("--artifacts-destination", f"{tmp}/spanrun-artifacts"),
        ],
        port,
        tmp,
    )


def _mlflow_server(tmp: str) -> contextlib.AbstractContextManager[str]:
    python = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mlflow_env.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = _free_port()
    return _server(
        [
            *(python, "-m", "mlflow", "server", "--port", str(port), "--workers", "1"),
            *("--backend-store-uri", f"sqlite:///{tmp}/mlflow.db"),
            *("--serve-artifacts", "--artifacts-destination", f"{tmp}/mlflow-artifacts"),
        ],
        port,
        tmp,
    )


def _measure(uri: str, scale: float) -> dict[str, float]:
    import openai
    from spanrun.testing.openai_server import OpenAIServer

    spanrun.set_tracking_uri(uri)
    spanrun.set_experiment(f"bench-{time.time_ns()}")
    out: dict[str, float] = {}
    n = max(10, int(COUNTS["sync"] * scale))
    with spanrun.start_run():
        start = time.perf_counter()
        for i in range(n):
            spanrun.log_metric("sync", float(i), step=i)
        out["sync_log_metric"] = n / (time.perf_counter() - start)

        n = max(100, int(COUNTS["async"] * scale))
        start = time.perf_counter()
        for i in range(n):
            spanrun.log_metric("async", float(i), step=i, synchronous=False)
        spanrun.flush_async_logging()
        out["async_log_metric"] = n / (time.perf_counter() - start)

        store = spanrun.SpanrunClient().store
        run_id = spanrun.active_run().info.run_id  # type: ignore[union-attr]
        n = max(2, int(COUNTS["batches"] * scale))
        start = time.perf_counter()
        for b in range(n):
            store.log_batch(
                run_id, [Metric("batch", float(i), 1, b * 1000 + i) for i in range(1000)]
            )
        out["log_batch_values"] = n * 1000 / (time.perf_counter() - start)

    out["exporter_spans"] = _exporter_rate(uri, max(512, int(COUNTS["spans"] * scale)))

    n = max(10, int(COUNTS["llm_calls"] * scale))
    with OpenAIServer() as llm_server:
        llm = openai.OpenAI(base_url=llm_server.base_url, api_key="k", max_retries=0)
        spanrun.autolog()
        try:
            start = time.perf_counter()
            with spanrun.start_run():
                for i in range(n):
                    llm.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
                    )
            # end_run flushed the spans: every call is in the run
            out["autolog_calls"] = n / (time.perf_counter() - start)
        finally:
            spanrun.autolog(disable=True)
    return out


def _exporter_rate(uri: str, n: int) -> float:
    """LLM spans/s the run exporter turns into runs through the REST store (batches of 512
    made by ``benchmarks/exporter.py``'s span factory, 4 runs), until all is written."""
    from benchmarks.exporter import make_spans
    from spanrun.core.entities import RunTag
    from spanrun.exporters import RunExporter
    from spanrun.store import get_export_store

    store = get_export_store(uri)
    run_ids = [
        store.create_run(
            "0", "bench", int(time.time() * 1000), [RunTag("b", "1")], f"r{k}"
        ).info.run_id
        for k in range(4)
    ]
    spans = make_spans(n, run_ids)
    exporter = RunExporter(store, run_mode="none")
    start = time.perf_counter()
    for i in range(0, n, 512):
        exporter.export(spans[i : i + 512])
    assert exporter.force_flush(600_000)
    rate = n / (time.perf_counter() - start)
    exporter.shutdown()
    assert store.get_run(run_ids[0]).data.metrics["llm.calls"] == n // 4
    return rate


ROWS = [
    ("sync_log_metric", "log_metric, synchronous", "calls/s"),
    ("async_log_metric", "log_metric(synchronous=False), until written", "values/s"),
    ("log_batch_values", "log_batch, 1,000 metrics a call", "values/s"),
    ("exporter_spans", "run exporter: LLM spans into runs, until written", "spans/s"),
    ("autolog_calls", "autolog: LLM calls into a run, until flushed", "calls/s"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the one span warning for MLflow is expected
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, server in (
            ("spanrun server", _spanrun_server),
            ("mlflow server", _mlflow_server),
        ):
            with server(tmp) as uri:
                results[name] = _measure(uri, args.scale)
    print(f"{'':48} {'spanrun server':>16} {'mlflow server':>16}")
    for key, label, unit in ROWS:
        a, b = results["spanrun server"][key], results["mlflow server"][key]
        print(f"{label:48} {a:>10,.0f} {unit:<5} {b:>10,.0f} {unit:<5}  x{a / b:.1f}")


if __name__ == "__main__":
    main()
