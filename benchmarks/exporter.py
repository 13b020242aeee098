"""How fast the run exporter turns LLM spans into runs on SQLite, and how much memory a burst costs.

    python benchmarks/exporter.py [--spans 20000] [--batch 512] [--burst 100000] [--queue 2048]

1. Throughput: finished LLM spans (GenAI semconv attributes, content included, stamped with one
   of 4 runs) are handed to ``RunExporter.export`` in batches of 512 (``--batch``), as the batch
   processor does by default. Each span becomes 8 metrics (step = call index, running totals;
   one ``llm_calls`` row), params, a ``llm_predictions.csv`` row and a stored span and trace,
   one store transaction per batch (batches mapped while the writer thread is busy share its
   next one). Printed: LLM spans/s, median of 5 rounds (each on a fresh database), per
   wall-clock second and per CPU-second of this process (the steadier figure on a shared
   machine).
   Then once more beside a user thread that sleeps 2 ms in a loop: the spans/s, and how late
   that thread wakes up (the GIL hand-over the exporter's mapping loop makes every 0.5 ms).
2. Burst: 100,000 LLM spans are ended as fast as possible through a TracerProvider with
   spanrun's processors (stamping + bounded batch queue -> RunExporter on SQLite). Printed: the
   peak memory traced by ``tracemalloc`` while the burst is processed, spans stored, spans
   dropped, for two queue sizes: the peak follows the queue size (``--queue``), not the burst.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from spanrun.exporters import BoundedBatchSpanProcessor, RunExporter, RunStampingProcessor

try:
    from spanrun.core.entities import RunTag
    from spanrun.store import get_export_store
except ImportError:  # the tree before issue 11 (benchmarks/ab.py runs this script on both)
    from spanrun.tracking.entities import RunTag  # type: ignore[no-redef]

    from spanrun.store._registry import get_export_store  # type: ignore[no-redef]

BATCH = 512  # the batch processor's default max_export_batch_size
N_RUNS = 4


def llm_attributes(i: int, run_id: str) -> dict[str, object]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{i}",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 40 + i % 7,
        "gen_ai.usage.output_tokens": 12 + i % 5,
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": f"Question number {i}?"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": f"Answer number {i}."}],
                    "finish_reason": "stop",
                }
            ]
        ),
        "server.address": "127.0.0.1",
        "server.port": 8000,
        "spanrun.run_id": run_id,
        "spanrun.experiment_id": "0",
    }


class _Collect(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def make_spans(n: int, run_ids: list[str]) -> list[ReadableSpan]:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    collect = _Collect()
    provider.add_span_processor(SimpleSpanProcessor(collect))
    tracer = provider.get_tracer("bench")
    for i in range(n):
        run_id = run_ids[i % len(run_ids)]
        tracer.start_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=llm_attributes(i, run_id)
        ).end()
    return collect.spans


def fresh_store(tmp: Path, name: str):  # type: ignore[no-untyped-def]
    # The store autolog's exporter writes to: on SQLite, the SQLAlchemy-free one.
    store = get_export_store(
        f"sqlite:///{tmp / name}.db", artifact_root=str(tmp / f"{name}-artifacts")
    )
    run_ids = [
        store.create_run(
            "0", "bench", int(time.time() * 1000), [RunTag("b", "1")], f"r{k}"
        ).info.run_id
        for k in range(N_RUNS)
    ]
    return store, run_ids


def throughput(
    n: int, batch: int, tmp: Path, round_no: int
) -> tuple[float, float, float, float, float]:
    """(spans per wall-clock second until everything is written, spans per CPU second of this
    process, CPU us per span spent writing a prepared batch (``Store.prepare_export_batch``'s
    job: the SQL) on the writer thread, spans per wall-clock second until the last
    ``export()`` returned - the writer thread may still be writing then, CPU us per span of
    the thread calling ``export()``: the mapping)."""
    store, run_ids = fresh_store(tmp, f"throughput{round_no}")
    spans = make_spans(n, run_ids)
    exporter = RunExporter(store, run_mode="none")
    store_cpu = 0.0
    prepare = store.prepare_export_batch

    def timed_prepare(runs, records):  # type: ignore[no-untyped-def]
        job = prepare(runs, records)

        def timed_job():  # type: ignore[no-untyped-def]
            nonlocal store_cpu
            # thread_time: the writer thread's own CPU, not the mapping running meanwhile
            cpu = time.thread_time()
            try:
                return job()
            finally:
                store_cpu += time.thread_time() - cpu

        return timed_job

    store.prepare_export_batch = timed_prepare  # type: ignore[method-assign]
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    thread_start = time.thread_time()
    for i in range(0, n, batch):
        assert exporter.export(spans[i : i + batch]) is SpanExportResult.SUCCESS
    returned = time.perf_counter() - start
    mapping_cpu = time.thread_time() - thread_start
    assert exporter.force_flush(600_000)  # the last batch's write counts too
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    calls = store.get_run(run_ids[0]).data.metrics["llm.calls"]
    assert calls == n // N_RUNS, (calls, n)
    store.close()
    return n / elapsed, n / cpu, store_cpu / n * 1e6, n / returned, mapping_cpu / n * 1e6


def beside_a_user_thread(n: int, batch: int, tmp: Path) -> tuple[float, float, float]:
    """Throughput with a user thread alongside that sleeps 2 ms in a loop, and how late it
    wakes up (it waits for the GIL the exporter's threads hold): (spans/s, p50 ms, p99 ms)."""
    store, run_ids = fresh_store(tmp, "beside")
    spans = make_spans(n, run_ids)
    exporter = RunExporter(store, run_mode="none")
    delays: list[float] = []
    stop = threading.Event()

    def user() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            time.sleep(0.002)
            delays.append(time.perf_counter() - start - 0.002)

    thread = threading.Thread(target=user)
    gc.collect()
    start = time.perf_counter()
    thread.start()
    for i in range(0, n, batch):
        exporter.export(spans[i : i + batch])
    assert exporter.force_flush(600_000)
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join()
    store.close()
    delays.sort()
    return n / elapsed, delays[len(delays) // 2] * 1e3, delays[int(len(delays) * 0.99)] * 1e3


def burst(n: int, queue: int, tmp: Path) -> tuple[float, int, int, float]:
    tmp.mkdir()
    store, run_ids = fresh_store(tmp, "burst")
    provider = TracerProvider()
    exporter = RunExporter(store, run_mode="none")
    batch = BoundedBatchSpanProcessor(exporter, max_queue_size=queue)
    provider.add_span_processor(RunStampingProcessor(lambda: (run_ids[0], "0")))
    provider.add_span_processor(batch)
    tracer = provider.get_tracer("bench")
    attrs = llm_attributes(0, run_ids[0])
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    for _ in range(n):
        tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attrs).end()
    ended = time.perf_counter() - start
    batch.force_flush(600_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stored = int(store.get_run(run_ids[0]).data.metrics.get("llm.calls", 0))
    provider.shutdown()
    store.close()
    return peak / 2**20, stored, batch.dropped_spans, n / ended


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=BATCH, help="spans per export() call")
    parser.add_argument("--burst", type=int, default=100_000, help="0 skips the burst")
    parser.add_argument(
        "--queue", default="2048,20000", help="max_queue_size values for the burst, comma-separated"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--skip-beside", action="store_true", help="skip the run beside a sleeping user thread"
    )
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line of the figures (ab.py)"
    )
    args = parser.parse_args(argv)
    figures: dict[str, dict[str, object]] = {}

    def figure(key: str, value: float, unit: str, better: str) -> None:
        figures[key] = {"value": value, "unit": unit, "better": better}

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        results = [throughput(args.spans, args.batch, tmp, r) for r in range(args.rounds)]
        rates = [r[0] for r in results]
        cpu_rate = statistics.median(r[1] for r in results)
        store_us = statistics.median(r[2] for r in results)
        returned_rate = statistics.median(r[3] for r in results)
        mapping_us = statistics.median(r[4] for r in results)
        print(
            f"throughput: {statistics.median(rates):,.0f} LLM spans/s into runs on SQLite "
            f"(median of {args.rounds}: {', '.join(f'{r:,.0f}' for r in rates)}; "
            f"{args.spans:,} spans, batches of {args.batch:,}, {N_RUNS} runs; clock stopped "
            f"after force_flush, i.e. all written; {returned_rate:,.0f}/s until the last "
            f"export() returned); "
            f"{cpu_rate:,.0f} spans per CPU-second (the figure to compare on a shared machine; "
            f"load average {_load()}): {1e6 / cpu_rate:,.0f} us of CPU per span, "
            f"{mapping_us:,.1f} us of it mapping (the thread calling export()), "
            f"{store_us:,.0f} us writing prepared batches (SQL, writer thread)"
        )
        figure("spans_per_s", statistics.median(rates), "spans/s", "higher")
        figure("spans_per_s_returned", returned_rate, "spans/s", "higher")
        figure("spans_per_cpu_s", cpu_rate, "spans/CPU-s", "higher")
        figure("cpu_us_per_span", 1e6 / cpu_rate, "us CPU", "lower")
        figure("mapping_cpu_us_per_span", mapping_us, "us CPU", "lower")
        figure("writer_sql_cpu_us_per_span", store_us, "us CPU", "lower")
        figure("other_threads_cpu_us_per_span", 1e6 / cpu_rate - mapping_us, "us CPU", "lower")
        if not args.skip_beside:
            rate, p50, p99 = beside_a_user_thread(args.spans, args.batch, tmp)
            print(
                f"beside a user thread (sleeping 2 ms in a loop): {rate:,.0f} LLM spans/s; the "
                f"thread wakes up late by {p50:.2f} ms (median), {p99:.2f} ms (p99) while the "
                "exporter is saturated"
            )
            figure("beside_user_spans_per_s", rate, "spans/s", "higher")
            figure("beside_user_late_p50_ms", p50, "ms", "lower")
            figure("beside_user_late_p99_ms", p99, "ms", "lower")
        for queue in (int(q) for q in args.queue.split(",")) if args.burst else ():
            peak_mb, stored, dropped, end_rate = burst(args.burst, queue, tmp / f"q{queue}")
            print(
                f"burst: {args.burst:,} spans ended at {end_rate:,.0f}/s (tracemalloc on); "
                f"peak traced memory {peak_mb:,.1f} MiB with max_queue_size={queue:,}; "
                f"stored {stored:,} + dropped {dropped:,} (counted and logged)"
            )
            figure(f"burst_q{queue}_end_per_s", end_rate, "spans/s", "higher")
            figure(f"burst_q{queue}_peak_mib", peak_mb, "MiB", "lower")
            figure(f"burst_q{queue}_stored", stored, "spans", "higher")
    if args.json:
        import spanrun

        print(json.dumps({"spanrun": spanrun.__file__, "figures": figures}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
