"""What a manual span costs: ``spanrun.start_span`` and ``@spanrun.trace`` against a bare OTel
span on the same provider (spanrun's, with its processors), CPU time per span.

    python benchmarks/manual_span.py [--spans 20000] [--rounds 7]

Issue 14's target: a manual span costs no more than a bare OTel span plus 20%. Each round
measures the three kinds one after the other (thread CPU time, so other processes on this noisy
machine do not count), the store is a fresh SQLite file in a temporary folder, and the figures
are medians over rounds. Printed: microseconds per span and the ratio to the bare span.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from opentelemetry import trace


def _per_span_us(n: int, body: Callable[[], None]) -> float:
    start = time.thread_time()
    for _ in range(n):
        body()
    return (time.thread_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
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

        kinds = {
            "bare OTel span": bare,
            "spanrun.start_span": start_span,
            "@spanrun.trace": decorated,
        }
        results: dict[str, list[float]] = {k: [] for k in kinds}
        with spanrun.start_run():
            for _ in range(args.rounds):
                for name, body in kinds.items():
                    results[name].append(_per_span_us(args.spans, body))
                _autolog.flush()
        base = statistics.median(results["bare OTel span"])
        print(f"{'':22} {'us/span (CPU)':>14} {'vs bare':>8}")
        for name, values in results.items():
            median = statistics.median(values)
            print(f"{name:22} {median:14.1f} {median / base:7.2f}x")
        print("target: manual spans at most 1.20x the bare span")
        assert trace.get_tracer_provider() is _autolog.tracer_provider()


if __name__ == "__main__":
    main()
