"""What a manual span costs: ``spanrun.start_span`` and ``@spanrun.trace`` against a bare OTel
span on the same provider (spanrun's, with its processors), CPU time per span.

    python benchmarks/manual_span.py [--spans 10000] [--rounds 7] [--chunk 500] [--json]

Issue 14's target: a manual span costs no more than a bare OTel span plus 20%. The three kinds
are measured in chunks of ``--chunk`` spans, interleaved (bare, start_span, trace, then the next
chunk in a rotated order), each chunk on thread CPU time (other processes on this noisy machine
do not count) and followed by an untimed flush: every chunk starts with an empty export queue and
fits in it, so no span is dropped (a drop costs differently from a queued span) and the
exporter's background work lands alike on all three kinds. The store is a fresh SQLite file in
a temporary folder; the figures are medians over rounds. Printed: microseconds per span, the
ratio to the bare span (per round, then the median), and the number of spans dropped (0 expected).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from opentelemetry import trace


def _chunk_us(n: int, body: Callable[[], None]) -> float:
    """Thread CPU microseconds for ``n`` calls of ``body``."""
    start = time.thread_time()
    for _ in range(n):
        body()
    return (time.thread_time() - start) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000, help="spans per kind per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=500, help="spans timed between flushes")
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line of the figures (ab.py)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        import spanrun
        from spanrun import _autolog

        spanrun.set_tracking_uri(f"sqlite:///{tmp}/bench.db")
        tracer = _autolog.tracer_provider().get_tracer("bench")  # spanrun's provider
        batch = _autolog._state.batch
        assert batch is not None
        chunk = min(args.chunk, batch.max_queue_size)  # a chunk never overflows the queue
        dropped_before = batch.dropped_spans

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

        kinds = {
            "bare OTel span": bare,
            "spanrun.start_span": start_span,
            "@spanrun.trace": decorated,
        }
        names = list(kinds)
        results: dict[str, list[float]] = {k: [] for k in kinds}
        chunks = max(1, args.spans // chunk)
        with spanrun.start_run():
            for _ in range(args.rounds):
                totals = dict.fromkeys(kinds, 0.0)
                for c in range(chunks):
                    for i in range(len(names)):  # rotated: no kind always runs first
                        name = names[(c + i) % len(names)]
                        totals[name] += _chunk_us(chunk, kinds[name])
                        assert _autolog.flush()
                for name, total in totals.items():
                    results[name].append(total / (chunks * chunk))
        dropped = batch.dropped_spans - dropped_before
        bares = results["bare OTel span"]
        # Per round, the ratio to the bare span of the same round (interleaved chunks: the
        # same machine load), then the median over rounds.
        ratios = {n: [v / b for v, b in zip(vs, bares, strict=True)] for n, vs in results.items()}
        print(f"{'':22} {'us/span (CPU)':>14} {'vs bare':>8} {'range over rounds':>20}")
        for name, values in results.items():
            r = ratios[name]
            spread = f"{min(r):.2f}-{max(r):.2f}x"
            median_us, median_ratio = statistics.median(values), statistics.median(r)
            print(f"{name:22} {median_us:14.1f} {median_ratio:7.2f}x {spread:>20}")
        print(f"target: manual spans at most 1.20x the bare span; spans dropped: {dropped}")
        assert trace.get_tracer_provider() is _autolog.tracer_provider()
        if args.json:
            figures = {
                f"{name} us/span": {"value": statistics.median(v), "unit": "us", "better": "lower"}
                for name, v in results.items()
            }
            for name in names[1:]:
                figures[f"{name} vs bare"] = {
                    "value": statistics.median(ratios[name]),
                    "unit": "x",
                    "better": "lower",
                }
            figures["spans dropped"] = {"value": float(dropped), "unit": "spans", "better": "lower"}
            print(json.dumps({"spanrun": spanrun.__file__, "figures": figures}))


if __name__ == "__main__":
    main()
