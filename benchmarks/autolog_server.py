"""Autolog through a ``spanrun server``: the ``otlp`` transport against ``rest``, side by side.

    python benchmarks/autolog_server.py [--spans 20000] [--rounds 2] [--json]

One ``spanrun server`` (this checkout, one worker, a fresh SQLite file) runs in its own process.
For each transport a fresh client process (``SPANRUN_AUTOLOG_TRANSPORT=otlp|rest``) calls
``spanrun.autolog()`` and ends ``--spans`` LLM spans like autolog's (GenAI attributes, content
included; each its own trace, outside any run: they go to the process's session run) as fast
as it can, then flushes; the queue holds them all, so nothing is dropped. Rounds alternate the
transports (otlp, rest, rest, otlp, ...) so a change of the machine's load hits both. Printed
per transport (median over rounds):

- client CPU per call: the client process's CPU time (all threads: span creation, mapping
  when ``rest``, encoding and HTTP) over the calls;
- end-to-end spans/s: from the first span to ``flush()`` returning, when every span is stored
  on the server (both transports wait for the server's answer, which comes after its commit);
- server CPU per call over the same interval;
- HTTP requests per export batch (the client's requests to the server during the burst, over
  the batches the batch processor exported).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
CLK_TCK = os.sysconf("SC_CLK_TCK")
TRANSPORTS = ("otlp", "rest")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def client(server_pid: int, n: int) -> None:
    """One client process: autolog, ``n`` LLM spans, flush; prints one JSON line."""
    import spanrun
    from benchmarks.exporter import llm_attributes
    from spanrun import _autolog
    from spanrun.store.rest._transport import Transport

    requests = [0]
    send = Transport.send

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        requests[0] += 1
        return send(self, *args, **kwargs)

    Transport.send = counted  # type: ignore[method-assign]
    spanrun.autolog(libraries=(), max_queue_size=n + 1, silent=True)
    sender = _autolog._state.sender
    assert sender is not None
    batches = [0]
    export = sender.export

    def counted_export(spans):  # type: ignore[no-untyped-def]
        batches[0] += 1
        return export(spans)

    sender.export = counted_export  # type: ignore[method-assign]
    tracer = _autolog.tracer_provider().get_tracer("bench")
    attributes = [
        {k: v for k, v in llm_attributes(i, "").items() if not k.startswith("spanrun.")}
        for i in range(n)
    ]
    # Warm up: the server kind is asked, the session run made (not measured).
    tracer.start_span("chat gpt-4o-mini", attributes=attributes[0]).end()
    assert _autolog.flush(120)
    requests[0] = batches[0] = 0
    server_cpu = cpu_seconds(server_pid)
    cpu = time.process_time()
    start = time.perf_counter()
    for attrs in attributes:
        tracer.start_span("chat gpt-4o-mini", attributes=attrs).end()
    assert _autolog.flush(600)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    server_cpu = cpu_seconds(server_pid) - server_cpu
    dropped = sender.dropped_spans + (_autolog._state.batch.dropped_spans or 0)  # type: ignore[union-attr]
    print(
        json.dumps(
            {
                "client_cpu_us": cpu / n * 1e6,
                "spans_per_s": n / seconds,
                "server_cpu_us": server_cpu / n * 1e6,
                "requests_per_batch": requests[0] / max(1, batches[0]),
                "batches": batches[0],
                "dropped": dropped,
                "spanrun": spanrun.__file__,
            }
        )
    )


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    process = subprocess.Popen(
        [
            sys.executable, "-c", "from spanrun.cli import main; main()", "server",
            "--backend-store-uri", f"sqlite:///{tmp / 'server.db'}",
            "--artifacts-destination", str(tmp / "artifacts"), "--port", str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/health", timeout=1)
            # Spans ending within 5 s of the receiver's start are checked against the store
            # (a retry from before a restart could be there): not the steady state measured.
            time.sleep(6)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def run_client(url: str, server_pid: int, transport: str, n: int, tmp: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANRUN_", "OTEL_"))}
    env |= {
        "SPANRUN_TRACKING_URI": url,
        "SPANRUN_AUTOLOG_TRANSPORT": transport,
        "SPANRUN_EXPERIMENT_NAME": f"bench-{transport}",
        "PYTHONPATH": os.pathsep.join(
            [*filter(None, [os.environ.get("PYTHONPATH")]), str(ROOT / "src"), str(ROOT)]
        ),
    }
    done = subprocess.run(
        [sys.executable, __file__, "--client", str(server_pid), str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {transport} client failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["dropped"]:
        raise SystemExit(f"the {transport} client dropped {result['dropped']} spans")
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="end with ab.py's JSON line")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {t: [] for t in TRANSPORTS}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server, url = start_server(tmp)
        try:
            for round_ in range(args.rounds):
                order = TRANSPORTS if round_ % 2 == 0 else TRANSPORTS[::-1]
                for transport in order:
                    results[transport].append(
                        run_client(url, server.pid, transport, args.spans, tmp)
                    )
        finally:
            server.terminate()
            server.wait(60)

    def median(transport: str, key: str) -> float:
        return statistics.median(r[key] for r in results[transport])

    print(f"autolog through spanrun server, {args.spans} LLM spans, {os.cpu_count()} CPUs")
    print(f"{'':28}{'otlp':>12}{'rest':>12}")
    rows = [
        ("client CPU per call (us)", "client_cpu_us", "{:12.0f}"),
        ("end-to-end spans/s", "spans_per_s", "{:12,.0f}"),
        ("server CPU per call (us)", "server_cpu_us", "{:12.0f}"),
        ("requests per batch", "requests_per_batch", "{:12.2f}"),
    ]
    for label, key, fmt in rows:
        print(f"{label:28}" + "".join(fmt.format(median(t, key)) for t in TRANSPORTS))
    if args.json:
        figures = {
            f"{t} {key}": {
                "value": median(t, key),
                "unit": key,
                "better": "higher" if key == "spans_per_s" else "lower",
            }
            for t in TRANSPORTS
            for _, key, _ in rows
        }
        spanrun_file = results["otlp"][0].get("spanrun")
        print(json.dumps({"spanrun": spanrun_file, "workers": [], "figures": figures}))


if __name__ == "__main__":
    main()
