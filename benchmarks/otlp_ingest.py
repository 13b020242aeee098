"""How many LLM spans/s the OTLP receiver ingests into runs, through ``POST /v1/traces``.

    python benchmarks/otlp_ingest.py [--spans 50000] [--batch 512] [--senders 4] [--workers N]
                                     [--json]

A receiver (``spanrun.server.otlp.OtlpReceiver`` in a Starlette app under uvicorn, one worker)
runs in its own process on a fresh SQLite store. LLM spans like autolog's (GenAI semconv
attributes, content included; each its own trace, unstamped: they go to the session run of
their ``service.name``) are encoded by the official OTLP encoder into requests of ``--batch``
spans, and ``--senders`` threads post them (protobuf, as the OTLP/HTTP exporter does; a 503 is
retried after its Retry-After). A 200 means the spans are committed: runs, 8 metrics per call
(one ``llm_calls`` row), params, a ``llm_predictions.csv`` row, the span and its trace.

Printed: LLM spans/s from the first request to the last 200 (wall clock), the server's CPU
seconds (user + system) and spans per server CPU-second, and the 503 answers met.
``--workers N`` (N > 1) runs ``spanrun server --workers N`` instead (every worker's CPU is
counted; a sender's session run is shared by the workers). ``--json`` ends with the JSON line
``benchmarks/ab.py`` reads (spans/s, server CPU per span).
``--old`` also sends spans that ended before the receiver started: each trace of those is
looked up in the store (a retry from before a restart could be in it), the slow path.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def serve(store_uri: str, port: int, options: str, report: str) -> None:
    """The receiver app under uvicorn (the benchmark's server process)."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    import uvicorn
    from starlette.applications import Starlette

    import spanrun
    from spanrun.server.otlp import OtlpReceiver

    Path(report).write_text(spanrun.__file__ or "")  # for ab.py: which sources served

    receiver = OtlpReceiver(store_uri, **json.loads(options))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await receiver.startup()
        import spanrun.server

        if hasattr(spanrun.server, "tune_gc_for_serving"):  # as `spanrun server` does
            spanrun.server.tune_gc_for_serving()
        yield
        await receiver.shutdown()

    app = Starlette(routes=list(receiver.routes()), lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def llm_attributes(i: int) -> dict[str, object]:
    """The exporter benchmark's LLM span attributes, unstamped (they go to a session run)."""
    from benchmarks.exporter import llm_attributes as stamped

    return {k: v for k, v in stamped(i, "").items() if not k.startswith("spanrun.")}


def make_bodies(n: int, batch: int, service: str) -> list[bytes]:
    """``n`` finished LLM spans of a real SDK provider, OTLP-encoded ``batch`` per request."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind

    spans: list[ReadableSpan] = []

    class Collect(SpanExporter):
        def export(self, batch_):  # type: ignore[no-untyped-def]
            spans.extend(batch_)
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(Collect()))
    tracer = provider.get_tracer("bench")
    for i in range(n):
        tracer.start_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=llm_attributes(i)
        ).end()
    return [
        encode_spans(spans[i : i + batch]).SerializeToString() for i in range(0, len(spans), batch)
    ]


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (the workers of ``spanrun server``)."""
    total = 0.0
    for one in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return [c for child in found for c in (child, *_children(child))]


def send_all(url: str, bodies: list[bytes], senders: int) -> tuple[float, int]:
    """Post every body (retrying 503s); (seconds, 503 answers met)."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    unavailable = [0]
    errors: list[str] = []

    def sender() -> None:
        with httpx.Client(timeout=120, headers={"Content-Type": "application/x-protobuf"}) as c:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                while True:
                    answer = c.post(url, content=body)
                    if answer.status_code == 200:
                        break
                    if answer.status_code != 503:
                        errors.append(f"{answer.status_code}: {answer.text[:200]}")
                        return
                    with lock:
                        unavailable[0] += 1
                    time.sleep(float(answer.headers.get("Retry-After", "1")))

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"unexpected answers: {errors[:3]}")
    return time.perf_counter() - start, unavailable[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    store_uri: str, options: dict[str, object], workers: int = 1, report: str = os.devnull
) -> tuple[subprocess.Popen[bytes], str]:
    from benchmarks._env import child_pythonpath

    port = free_port()
    # The caller's PYTHONPATH first: ab.py points it at the revision under test.
    env = {**os.environ, "PYTHONPATH": child_pythonpath(ROOT / "src", ROOT)}
    if workers > 1:
        artifacts = store_uri.removeprefix("sqlite:///") + "-artifacts"
        command = [
            sys.executable, "-c", "from spanrun.cli import main; main()", "server",
            "--backend-store-uri", store_uri, "--artifacts-destination", artifacts,
            "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
    else:
        command = [
            sys.executable,
            __file__,
            "--serve",
            store_uri,
            str(port),
            json.dumps(options),
            report,
        ]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}/v1/traces"
    for _ in range(600):
        try:
            if httpx.get(url, timeout=1).status_code == 405:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the receiver did not start")


def measure(
    n: int, batch: int, senders: int, old: bool, workers: int = 1
) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory() as tmp:
        store_uri = f"sqlite:///{tmp}/bench.db"
        report = f"{tmp}/served-by"
        bodies = make_bodies(n, batch, "bench") if old else []
        # clock_skew_s=0: spans made after the start are never looked up (the steady state of
        # a server up for more than the default 5 s). spanrun server (workers) keeps its 5 s.
        process, url = start_server(store_uri, {"clock_skew_s": 0.0}, workers, report)
        if workers > 1:
            time.sleep(6)
        try:
            if not old:
                time.sleep(0.2)
                bodies = make_bodies(n, batch, "bench")
            cpu_before = cpu_seconds(process.pid)
            seconds, unavailable = send_all(url, bodies, senders)
            cpu = cpu_seconds(process.pid) - cpu_before
        finally:
            process.terminate()
            process.wait(60)
        from spanrun.store import get_store

        store = get_store(store_uri)
        (run,) = store.search_runs(["0"])
        # Every call is one llm_calls row (llm.calls, a per-worker running count, is exact
        # with one worker only).
        calls = len(store.get_metric_history(run.info.run_id, "llm.input_tokens"))
        if workers == 1:
            calls = min(calls, int(run.data.metrics["llm.calls"]))
        assert calls == n, f"{calls} calls counted, {n} sent"
        label = "ended before the start (store lookups)" if old else "fresh spans"
        print(
            f"{label}: {n} LLM spans in {seconds:.2f} s = {n / seconds:,.0f} spans/s; "
            f"server CPU {cpu:.2f} s = {n / cpu:,.0f} spans per CPU-second "
            f"({cpu / n * 1e6:.0f} us per span); {unavailable} answers 503 (retried)"
        )
        served_by = Path(report).read_text() if workers == 1 else ""
        return {"spans_per_s": n / seconds, "cpu_us": cpu / n * 1e6, "served_by": served_by}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--old", type=int, default=0, help="also send this many old spans")
    parser.add_argument("--workers", type=int, default=1, help="spanrun server --workers N")
    parser.add_argument("--json", action="store_true", help="end with ab.py's JSON line")
    args = parser.parse_args()
    print(
        f"OTLP/HTTP ingest, {os.cpu_count()} CPUs, batches of {args.batch}, {args.senders} "
        f"senders, {args.workers} worker(s)"
    )
    fresh = measure(args.spans, args.batch, args.senders, old=False, workers=args.workers)
    figures = {
        "fresh spans/s": {"value": fresh["spans_per_s"], "unit": "spans/s", "better": "higher"},
        "fresh CPU per span": {"value": fresh["cpu_us"], "unit": "us", "better": "lower"},
    }
    if args.old:
        old = measure(args.old, args.batch, args.senders, old=True, workers=args.workers)
        figures["old spans/s"] = {
            "value": old["spans_per_s"],
            "unit": "spans/s",
            "better": "higher",
        }
        figures["old CPU per span"] = {"value": old["cpu_us"], "unit": "us", "better": "lower"}
    if args.json:
        import spanrun

        workers = [str(fresh["served_by"])] if fresh["served_by"] else []
        print(json.dumps({"spanrun": spanrun.__file__, "workers": workers, "figures": figures}))


if __name__ == "__main__":
    main()
