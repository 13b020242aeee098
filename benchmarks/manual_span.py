"""What a manual span costs: ``spanrun.start_span`` and ``@spanrun.trace`` against a bare OTel
span on the same provider (spanrun's, with its processors), CPU time per span.

    python benchmarks/manual_span.py [--spans 10000] [--rounds 7] [--chunk 500] [--json]
    python benchmarks/manual_span.py --callgrind 400

Issue 14's target: a manual span costs no more than a bare OTel span plus 20%. The three kinds
are measured in chunks of ``--chunk`` spans, interleaved (bare, start_span, trace, then the next
chunk in a rotated order), each chunk on thread CPU time (other processes on this noisy machine
do not count) and followed by an untimed flush: every chunk starts with an empty export queue and
fits in it, so no span is dropped (a drop costs differently from a queued span) and the
exporter's background work lands alike on all three kinds. The store is a fresh SQLite file in
a temporary folder. Printed: microseconds per span (median over rounds), the ratio to the bare
span (per round, then the median), and the number of spans dropped (0 expected).

``--callgrind N``: the load-proof figure. Each kind runs in its own process under valgrind's
callgrind, which counts the instructions executed on the calling thread while N spans are made
(collection is on only inside the ``functools.reduce`` that makes them; the exporter's worker is
asleep: N stays under its batch size and its timer is pushed back). Needs ``valgrind``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opentelemetry import trace

KINDS = ("bare OTel span", "spanrun.start_span", "@spanrun.trace")


def _kinds(tmp: str) -> tuple[dict[str, Callable[[], None]], Any]:
    """The three ways to make a span, on spanrun's provider (store in ``tmp``); and the batch
    processor that exports them."""
    import spanrun
    from spanrun import _autolog

    spanrun.set_tracking_uri(f"sqlite:///{tmp}/bench.db")
    tracer = _autolog.tracer_provider().get_tracer("bench")  # spanrun's provider

    def bare() -> None:
        with tracer.start_as_current_span("work") as span:
            span.set_attribute("input.value", "question")

    def start_span() -> None:
        with spanrun.start_span("work") as span:
            span.set_inputs("question")

    @spanrun.trace
    def traced(question: str) -> str:
        return question

    def decorated() -> None:
        traced("question")

    batch = _autolog._state.batch
    assert batch is not None
    return dict(zip(KINDS, (bare, start_span, decorated), strict=True)), batch


def _chunk_us(n: int, body: Callable[[], None]) -> float:
    """Thread CPU microseconds for ``n`` calls of ``body``."""
    start = time.thread_time()
    for _ in range(n):
        body()
    return (time.thread_time() - start) * 1e6


def _timed(args: argparse.Namespace) -> None:
    import spanrun
    from spanrun import _autolog

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        kinds, batch = _kinds(tmp)
        chunk = min(args.chunk, batch.max_queue_size)  # a chunk never overflows the queue
        dropped_before = batch.dropped_spans
        results: dict[str, list[float]] = {k: [] for k in KINDS}
        chunks = max(1, args.spans // chunk)
        with spanrun.start_run():
            for _ in range(args.rounds):
                totals = dict.fromkeys(KINDS, 0.0)
                for c in range(chunks):
                    for i in range(len(KINDS)):  # rotated: no kind always runs first
                        name = KINDS[(c + i) % len(KINDS)]
                        totals[name] += _chunk_us(chunk, kinds[name])
                        assert _autolog.flush()
                for name, total in totals.items():
                    results[name].append(total / (chunks * chunk))
        dropped = batch.dropped_spans - dropped_before
        assert trace.get_tracer_provider() is _autolog.tracer_provider()  # spanrun's, global
    bares = results[KINDS[0]]
    # Per round, the ratio to the bare span of the same round (interleaved chunks: the same
    # machine load), then the median over rounds.
    ratios = {n: [v / b for v, b in zip(vs, bares, strict=True)] for n, vs in results.items()}
    print(f"{'':22} {'us/span (CPU)':>14} {'vs bare':>8} {'range over rounds':>20}")
    for name, values in results.items():
        r = ratios[name]
        spread = f"{min(r):.2f}-{max(r):.2f}x"
        median_us, median_ratio = statistics.median(values), statistics.median(r)
        print(f"{name:22} {median_us:14.1f} {median_ratio:7.2f}x {spread:>20}")
    print(f"target: manual spans at most 1.20x the bare span; spans dropped: {dropped}")
    if args.json:
        figures = {
            f"{name} us/span": {"value": statistics.median(v), "unit": "us", "better": "lower"}
            for name, v in results.items()
        }
        for name in KINDS[1:]:
            figures[f"{name} vs bare"] = {
                "value": statistics.median(ratios[name]),
                "unit": "x",
                "better": "lower",
            }
        figures["spans dropped"] = {"value": float(dropped), "unit": "spans", "better": "lower"}
        print(json.dumps({"spanrun": spanrun.__file__, "figures": figures}))


def _one_kind(kind: str, n: int) -> None:
    """Child of ``--callgrind``: make ``n`` spans of one kind inside ``functools.reduce``."""
    import spanrun
    from spanrun import _autolog

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        kinds, batch = _kinds(tmp)
        body = kinds[kind]
        with spanrun.start_run():
            for _ in range(100):  # warm up (imports, caches), then an empty queue
                body()
            assert _autolog.flush()
            assert n < 512, "the batch size: the exporter's worker must not wake"
            batch._delay_s = 3600.0  # nor its timer fire (callgrind runs ~50x slower)
            functools.reduce(lambda _acc, _i: body(), range(n), None)
            print(f"dropped={batch.dropped_spans}")


def _callgrind(n: int) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--callgrind needs valgrind")

    def count(kind: str) -> int:
        with tempfile.TemporaryDirectory() as out:
            proc = subprocess.run(
                [
                    valgrind,
                    "--tool=callgrind",
                    "--toggle-collect=functools_reduce",
                    f"--callgrind-out-file={out}/callgrind.out",
                    sys.executable,
                    __file__,
                    "--one-kind",
                    kind,
                    "--spans",
                    str(n),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        assert "dropped=0" in proc.stdout, proc.stdout
        return int(re.search(r"Collected : (\d+)", proc.stderr).group(1))  # type: ignore[union-attr]

    with ThreadPoolExecutor(len(KINDS)) as pool:  # counts do not depend on the load
        counts = dict(zip(KINDS, pool.map(count, KINDS), strict=True))
    base = counts[KINDS[0]] / n
    print(f"{'':22} {'instructions/span':>18} {'vs bare':>8}")
    for name, total in counts.items():
        print(f"{name:22} {total / n:18,.0f} {total / n / base:7.2f}x")
    print("(callgrind, calling thread, CPython; spans dropped: 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000, help="spans per kind per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=500, help="spans timed between flushes")
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line of the figures (ab.py)"
    )
    parser.add_argument(
        "--callgrind", type=int, metavar="N", help="count instructions for N spans per kind"
    )
    parser.add_argument("--one-kind", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_kind:
        _one_kind(args.one_kind, args.spans)
    elif args.callgrind:
        _callgrind(args.callgrind)
    else:
        _timed(args)


if __name__ == "__main__":
    main()
