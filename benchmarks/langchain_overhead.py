"""Latency LangChain tracing adds per invocation: spanrun vs MLflow vs OpenInference.

    python benchmarks/langchain_overhead.py                 # minutes: MLflow flushes slowly
    python benchmarks/langchain_overhead.py --rounds 5 --calls 50
    python benchmarks/langchain_overhead.py --skip-peers    # spanrun vs no tracing only

The chain is LCEL's three steps, ``ChatPromptTemplate | FakeListChatModel | StrOutputParser``,
invoked synchronously. Each configuration lives in its own worker process (patches must not
leak between them): no tracing; ``spanrun.autolog()`` (spans persisted to a SQLite store by its
background exporter, with the session run's metrics and prediction rows, content on);
spanrun's ``LangChainInstrumentor`` alone ("spans only": SDK ``BatchSpanProcessor`` to an
exporter that discards, the same setup as OpenInference's); ``mlflow.langchain.autolog()``
(traces to a SQLite tracking store, MLflow's defaults); OpenInference's
``LangChainInstrumentor`` (instrumentation cost only, nothing stored). Peers run in venvs made
by ``_env.py`` (``.bench/mlflow``, ``.bench/lc-openinference``) with the same langchain-core
and interpreter.

Rounds are interleaved with the order rotated each round; every round each worker runs
``--calls`` invocations and reports the mean. A configuration's overhead is the median over
rounds of (its mean - the untraced mean in the same round).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LANGCHAIN_CORE = "langchain-core==1.7.2"
OPENINFERENCE_PACKAGES = [
    "openinference-instrumentation-langchain",
    "opentelemetry-sdk==1.45.2",
    LANGCHAIN_CORE,
]
CONFIGS = ("none", "spanrun", "spanrun-otel", "mlflow", "openinference")
WARMUP = 50


# -- worker side --------------------------------------------------------------------------------
def _chain() -> Any:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer in one short sentence."), ("human", "{question}")]
    )
    model = FakeListChatModel(responses=["The answer is forty-two."])
    return prompt | model | StrOutputParser()


def _setup(config: str, workdir: str) -> tuple[str, Any, Any]:
    """Turn tracing on; return (version, flush function, function counting kept traces)."""
    os.chdir(workdir)
    if config == "none":
        import langchain_core

        return f"langchain-core {langchain_core.__version__}", lambda: None, lambda: 0
    if config == "spanrun":
        import spanrun

        spanrun.set_tracking_uri(f"sqlite:///{workdir}/spanrun.db")
        spanrun.autolog(silent=True)

        from spanrun._autolog import flush as spanrun_flush

        def check() -> int:
            spanrun_flush()
            count, token = 0, None
            while True:
                page = spanrun.search_traces(max_results=50_000, page_token=token)
                count += len(page)
                token = page.token
                if not token:
                    return count

        return f"spanrun {spanrun.__version__}", spanrun_flush, check
    if config == "mlflow":
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
        mlflow.set_experiment("bench")
        mlflow.langchain.autolog(silent=True)

        def check() -> int:
            mlflow.flush_trace_async_logging()
            return len(mlflow.search_traces(max_results=50_000, return_type="list"))

        return f"mlflow {mlflow.__version__}", mlflow.flush_trace_async_logging, check
    if config in ("openinference", "spanrun-otel"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class Counting(SpanExporter):
            traces: set[int] = set()

            def export(self, spans: Any) -> SpanExportResult:
                self.traces.update(s.context.trace_id for s in spans)
                return SpanExportResult.SUCCESS

        exporter = Counting()
        provider = TracerProvider()
        processor = BatchSpanProcessor(exporter)
        provider.add_span_processor(processor)
        if config == "openinference":
            from importlib.metadata import version

            from openinference.instrumentation.langchain import LangChainInstrumentor

            name = f"openinference {version('openinference-instrumentation-langchain')}"
        else:
            import spanrun
            from spanrun.instrumentation.langchain import LangChainInstrumentor

            name = f"spanrun {spanrun.__version__}, spans only"
        LangChainInstrumentor().instrument(tracer_provider=provider)

        def check() -> int:
            processor.force_flush()
            return len(exporter.traces)

        return name, processor.force_flush, check
    raise SystemExit(f"unknown config {config}")


def _worker(config: str, workdir: str) -> None:
    version, flush, check = _setup(config, workdir)
    chain = _chain()
    inputs = {"question": "What is the answer?"}
    for _ in range(WARMUP):
        chain.invoke(inputs)
    out = sys.stdout
    out.write(json.dumps({"version": version}) + "\n")
    out.flush()
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "run":
            calls = int(arg)
            start = time.perf_counter_ns()
            for _ in range(calls):
                chain.invoke(inputs)
            elapsed = time.perf_counter_ns() - start
            # Finish this batch's background work (untimed) so it cannot slow the next
            # worker's round; its cost is reported on its own.
            start = time.perf_counter_ns()
            flush()
            flushed = time.perf_counter_ns() - start
            reply = {
                "us_per_call": elapsed / calls / 1000,
                "flush_us_per_call": flushed / calls / 1000,
            }
            out.write(json.dumps(reply) + "\n")
        elif command == "check":
            out.write(json.dumps({"traces": check()}) + "\n")
        elif command == "quit":
            break
        out.flush()


# -- driver side --------------------------------------------------------------------------------
class Worker:
    def __init__(self, config: str, python: str, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        env.pop("SPANRUN_TRACKING_URI", None)
        env.pop("MLFLOW_TRACKING_URI", None)
        self.config = config
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker", config, "--workdir", str(workdir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(workdir / "stderr.log").open("w"),
            text=True,
            env=env,
        )
        self.log = workdir / "stderr.log"
        self.version = self._reply()["version"]

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"worker {self.config} died ({code}):\n{self.log.read_text()}")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask("quit")
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _pythons(skip_peers: bool) -> dict[str, str]:
    pythons = {"none": sys.executable, "spanrun": sys.executable, "spanrun-otel": sys.executable}
    if skip_peers:
        return pythons
    sys.path.insert(0, str(ROOT))
    from benchmarks._env import ensure_venv

    # The same package list as benchmarks/tracking.py, so the venv is shared.
    pythons["mlflow"] = str(ensure_venv("mlflow", ["mlflow"]))
    pythons["openinference"] = str(
        ensure_venv("lc-openinference", OPENINFERENCE_PACKAGES, with_spanrun=False)
    )
    return pythons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=100, help="invocations per round")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.workdir)
        return

    pythons = _pythons(args.skip_peers)
    with tempfile.TemporaryDirectory(prefix="lc-overhead-") as tmp:
        workers = {c: Worker(c, py, Path(tmp) / c) for c, py in pythons.items()}
        try:
            names = list(workers)
            rounds: dict[str, list[dict[str, float]]] = {c: [] for c in names}
            for r in range(args.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                for config in order:
                    rounds[config].append(workers[config].ask(f"run {args.calls}"))
            kept = {c: w.ask("check")["traces"] for c, w in workers.items()}
        finally:
            for worker in workers.values():
                worker.close()

    base = [r["us_per_call"] for r in rounds["none"]]
    total = WARMUP + args.rounds * args.calls
    print(
        f"\n3-step LCEL chain (prompt | fake chat model | parser), sync invoke; "
        f"{args.rounds} interleaved rounds x {args.calls} calls; {workers['none'].version}\n"
    )
    header = (
        f"{'configuration':<38} {'per call':>10} {'added':>10} {'+ flush':>9} {'traces kept':>13}"
    )
    print(header)
    print(f"{'no tracing':<38} {statistics.median(base):>8.0f}us")
    for config in names[1:]:
        per_call = [r["us_per_call"] for r in rounds[config]]
        added = statistics.median(m - b for m, b in zip(per_call, base, strict=True))
        flush = statistics.median(r["flush_us_per_call"] for r in rounds[config])
        print(
            f"{workers[config].version:<38} {statistics.median(per_call):>8.0f}us "
            f"{added:>+8.0f}us {flush:>7.0f}us {kept[config]:>6}/{total:<6}"
        )
    print(
        "\n'added' = median over rounds of (mean per call - untraced mean per call, same round).\n"
        "'+ flush' = background work left after each round (export/store), per call, untimed\n"
        "in 'added'. 'traces kept' = traces stored (spanrun, MLflow) or exported (OpenInference,\n"
        "which stores nothing) at the end."
    )


if __name__ == "__main__":
    main()
