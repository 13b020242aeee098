"""How many autologged LLM calls a SIGKILL loses (spans still queued for the exporter).

    python benchmarks/sigkill_loss.py [--rounds 10] [--rate 0] [--min-s 2] [--max-s 4]

Each round starts a child process that autologs (session run) chat calls to spanrun's local
OpenAI-compatible server, one after another from one thread (``--rate`` calls/s, 0: as fast as
the server answers), and writes each call's return time to a pipe. After a random time in
``[--min-s, --max-s]`` after its first call returned (so the kill falls anywhere in the
exporter's 1 s batch cycle) the child gets SIGKILL. Then this process opens the store (which
ends the session run as KILLED) and counts what was kept: the run's ``llm_calls`` rows and
``llm_predictions.csv`` rows.

Printed per round: calls that had returned in the child, calls stored, calls lost, the loss as
a share of the calls of the last second before the kill, and how far before the kill the last
stored call had returned. Then the median and the range over the rounds.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def child(base_url: str, rate: float) -> None:
    import openai
    import spanrun

    spanrun.autolog()
    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    out = sys.stdout.fileno()
    period = 1 / rate if rate > 0 else 0.0
    next_at = time.monotonic()
    i = 0
    while True:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
        )
        os.write(out, f"{i} {time.time():.6f}\n".encode())  # returned: the user saw it
        i += 1
        if period:
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))


def one_round(base_url: str, rate: float, wait_s: float, folder: Path) -> dict[str, float]:
    db = folder / "spanrun.db"
    env = {**os.environ, "SPANRUN_TRACKING_URI": f"sqlite:///{db}"}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", base_url, "--rate", str(rate)],
        env=env,
        stdout=subprocess.PIPE,
        cwd=folder,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # timed from the first call: start-up takes seconds
    time.sleep(wait_s)
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate()
    lines = (first + rest).decode().splitlines()
    returned = [float(line.split()[1]) for line in lines if line.strip()]

    import spanrun

    spanrun.set_tracking_uri(f"sqlite:///{db}")
    runs = spanrun.search_runs(output_format="list")
    if len(runs) != 1:
        raise SystemExit(f"expected the child's session run, found {len(runs)} ({db})")
    (run,) = runs
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute(
            "SELECT COUNT(*) FROM llm_calls WHERE run_id = ?", (run.info.run_id,)
        ).fetchone()
        (last_ms,) = conn.execute(
            "SELECT MAX(timestamp) FROM llm_calls WHERE run_id = ?", (run.info.run_id,)
        ).fetchone()
    csv_path = Path(run.info.artifact_uri.removeprefix("file://"), "llm_predictions.csv")
    rows = (
        len(pd.read_csv(io.BytesIO(csv_path.read_bytes()), dtype=str, keep_default_na=False))
        if csv_path.exists()
        else 0
    )
    last_second = sum(1 for t in returned if t > killed_at - 1.0)
    lost = len(returned) - stored
    return {
        "returned": len(returned),
        "stored": stored,
        "csv_rows": rows,
        "lost": lost,
        "last_second": last_second,
        "lost_share": lost / last_second if last_second else 0.0,
        "lost_window_s": killed_at - (last_ms / 1000 if last_ms else killed_at),
        "status": run.info.status,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.0, help="calls/s; 0: unthrottled")
    parser.add_argument("--min-s", type=float, default=2.0)
    parser.add_argument("--max-s", type=float, default=4.0)
    parser.add_argument("--child", metavar="BASE_URL")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rate)
        return

    from spanrun.testing.openai_server import OpenAIServer

    results = []
    with OpenAIServer() as server:
        for n in range(args.rounds):
            with tempfile.TemporaryDirectory() as folder:
                wait_s = random.uniform(args.min_s, args.max_s)
                r = one_round(server.base_url, args.rate, wait_s, Path(folder))
            results.append(r)
            print(
                f"round {n + 1}: killed after {wait_s:.2f} s; returned {r['returned']}, "
                f"stored {r['stored']} (csv rows {r['csv_rows']}), lost {r['lost']} = "
                f"{r['lost_share']:.0%} of the last second's {r['last_second']} calls; last "
                f"stored call {r['lost_window_s']:.2f} s before the kill; run {r['status']}",
                flush=True,
            )
    for key, label in (
        ("lost", "calls lost"),
        ("lost_share", "share of the last second's calls lost"),
        ("lost_window_s", "seconds of calls lost"),
    ):
        values = [float(r[key]) for r in results]
        print(
            f"{label}: median {statistics.median(values):.2f}, "
            f"min {min(values):.2f}, max {max(values):.2f}"
        )


if __name__ == "__main__":
    main()
