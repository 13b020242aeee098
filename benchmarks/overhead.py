"""Latency and memory the OpenAI instrumentation adds per call: spanrun vs its peers.

    python benchmarks/overhead.py                    # a few minutes once the venvs exist
    python benchmarks/overhead.py --rounds 9 --calls 300 --streams 40
    python benchmarks/overhead.py --skip-peers       # spanrun vs the bare client only

Every configuration drives the real ``openai`` client over loopback HTTP against spanrun's local
OpenAI-compatible server (``spanrun.testing.openai_server``, started here): a non-streaming chat
call, and a whole 100-chunk stream (``stream_options.include_usage``; all chunks consumed).
Content capture is on everywhere. Configurations, each in its own worker process:

- ``bare``: the uninstrumented client;
- ``spanrun``: ``spanrun.autolog()``; spans persisted to a SQLite store by the run exporter
  (runs, metrics, prediction rows, traces: the whole product path);
- ``spanrun-otel``: spanrun's ``OpenAIInstrumentor`` alone with the same discarding processor
  as the OTel peers below (instrumentation cost only, like for like);
- ``otel-v2``: OTel's ``opentelemetry-instrumentation-openai-v2`` (content ``span_only``), SDK
  ``BatchSpanProcessor`` to an exporter that discards (instrumentation cost only);
- ``openllmetry``: ``opentelemetry-instrumentation-openai`` (Traceloop), same processor;
- ``mlflow``: ``mlflow.openai.autolog()`` to a SQLite tracking store, MLflow's defaults.

Peers run in venvs made by ``_env.py`` (``.bench/oai-otel-v2``, ``.bench/oai-openllmetry``,
``.bench/mlflow``) with the same openai release and interpreter. Rounds are interleaved with the
order rotated each round; a configuration's added latency is the median over rounds of (its
median - the bare median in the same round), and likewise for p99. On a busy machine
latencies are noisy; CPU time is steadier: "+thread CPU" is the CPU time per call of the
calling thread (the instrumentation's hot path) and "+CPU" that of the whole worker process
(background exporter threads included), each minus the bare worker's, median over rounds.
A second table pairs calls inside each worker instead: the same call alternately traced and
under OTel's suppress-instrumentation key (honoured by spanrun and OpenLLMetry only), so
both halves of a pair see the same machine load; its figures are the steadiest, though they
leave out background work that lands on untraced calls. A third table takes the network out:
canned answers through the SDK's transport hook, best of 15 repeats per configuration, minus
the bare worker's (load can only slow a repeat down, so the best is the cleanest figure of the
instrumentation's own cost on the calling thread). Last, spanrun's instrumentor and OTel's
openai-v2 are switched on in turn inside one process (the OTel venv), which removes the
differences between processes as well.
Memory: peak RSS of the
worker after all rounds minus the bare worker's, and the growth of peak RSS during the calls
(after warm-up), which leaves out what importing the library costs.

For a figure that does not move with the machine's load, ``overhead_instructions.py`` counts
the instructions per call of the same configurations under callgrind.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENAI = "openai==3.54.0"
OTEL_SDK = "opentelemetry-sdk==1.45.2"
PEER_VENVS: dict[str, tuple[str, list[str], bool]] = {
    "otel-v2": (
        "oai-otel-v2",
        [
            OPENAI,
            OTEL_SDK,
            "opentelemetry-instrumentation-openai-v2==2.4b0",
            # 2.4b0 fails at import with a newer util-genai (peers.md)
            "opentelemetry-util-genai==1.1b0",
            "httpx",  # imported by the instrumentor; openai 3.x itself uses httpx2
        ],
        False,
    ),
    "openllmetry": (
        "oai-openllmetry",
        [OPENAI, OTEL_SDK, "opentelemetry-instrumentation-openai==0.62.4", "httpx"],
        False,
    ),
    "mlflow": ("mlflow", ["mlflow"], True),  # shared with the other benchmarks
}
CONFIGS = ("bare", "spanrun", "spanrun-otel", "otel-v2", "openllmetry", "mlflow")
MODES = ("chat", "stream100")
# Configurations whose tracing OTel's suppress-instrumentation key turns off (checked: OTel's
# openai-v2 2.4b0 and MLflow trace regardless).
PAIRED = ("spanrun", "spanrun-otel", "openllmetry")
WARMUP = 30
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say this is a test, in one short sentence please."},
]


# -- worker side --------------------------------------------------------------------------------
_providers: list[Any] = []


def flush_providers() -> None:
    """Flush the span processors this worker set up (and the global provider's, if any)."""
    from opentelemetry import trace

    for provider in [*_providers, trace.get_tracer_provider()]:
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            flush()


def _discarding_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    _providers.append(provider)
    return provider


def _setup(config: str, workdir: str) -> str:
    """Turn tracing on (before the client exists); return a version string."""
    from importlib.metadata import version

    os.chdir(workdir)
    if config == "bare":
        return "no tracing"
    if config == "spanrun":
        import spanrun

        spanrun.set_tracking_uri(f"sqlite:///{workdir}/spanrun.db")
        spanrun.autolog(silent=True)
        return f"spanrun {version('spanrun')}"
    if config == "spanrun-otel":
        from spanrun.instrumentation.openai import OpenAIInstrumentor as SpanrunInstrumentor

        SpanrunInstrumentor().instrument(tracer_provider=_discarding_provider(), log_content=True)
        return f"spanrun {version('spanrun')} instrumentor, spans discarded"
    if config == "otel-v2":
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=_discarding_provider())
        name = "opentelemetry-instrumentation-openai-v2"
        return f"{name} {version(name)}"
    if config == "openllmetry":
        os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "true")
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=_discarding_provider())
        name = "opentelemetry-instrumentation-openai"
        return f"{name} {version(name)}"
    if config == "mlflow":
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
        mlflow.set_experiment("bench")
        mlflow.openai.autolog(silent=True)
        return f"mlflow {mlflow.__version__}"
    raise SystemExit(f"unknown config {config}")


def _mock_calls(openai: Any, workdir: str) -> dict[str, Any]:
    """The benchmark's two calls against canned answers (recorded from the local server)."""
    import httpx2

    canned = json.loads(Path(workdir, "..", "canned.json").read_text())

    def handler(request: Any) -> Any:
        stream = b'"stream":true' in request.content or b'"stream": true' in request.content
        if stream:
            headers = {"content-type": "text/event-stream"}
            return httpx2.Response(200, headers=headers, content=canned["stream"].encode())
        return httpx2.Response(200, json=json.loads(canned["chat"]))

    client = openai.OpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="bench",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )

    def chat() -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)

    def stream100() -> None:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass

    return {"chat": chat, "stream100": stream100}


def _same_process(workdir: str) -> None:
    """No tracing, spanrun's instrumentor and OTel's openai-v2 in ONE process (the OTel venv),
    switched on in turn between batches, same discarding processor: the fairest comparison of
    the two instrumentations' own cost, since both see the same interpreter and machine state."""
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as OtelV2

    import openai
    from spanrun.instrumentation.openai import OpenAIInstrumentor as Spanrun

    provider = _discarding_provider()
    calls = _mock_calls(openai, workdir)
    toggles = {
        "bare": (lambda: None, lambda: None),
        "spanrun-otel": (
            lambda: Spanrun().instrument(tracer_provider=provider, log_content=True),
            lambda: Spanrun().uninstrument(),
        ),
        "otel-v2": (
            lambda: OtelV2().instrument(tracer_provider=provider),
            lambda: OtelV2().uninstrument(),
        ),
    }
    names = list(toggles)
    best: dict[str, float] = {}
    clock = time.perf_counter_ns
    for rep in range(15):
        for name in names[rep % 3 :] + names[: rep % 3]:
            on, off = toggles[name]
            on()
            for mode, count in (("chat", 100), ("stream100", 10)):
                calls[mode]()
                t0 = clock()
                for _ in range(count):
                    calls[mode]()
                value = (clock() - t0) / count
                best[f"{name} {mode}"] = min(best.get(f"{name} {mode}", value), value)
            off()
    import spanrun

    print(json.dumps({**best, "spanrun": spanrun.__file__}))


def _write_canned(base_url: str, path: str) -> None:
    import httpx

    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2}
    chat = httpx.post(base_url + "/chat/completions", json=body).text
    body.update(stream=True, stream_options={"include_usage": True})
    headers = {"x-spanrun-fake": "chunks=100"}
    stream = httpx.post(base_url + "/chat/completions", json=body, headers=headers).text
    Path(path).write_text(json.dumps({"chat": chat, "stream": stream}))


def _max_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _worker(config: str, base_url: str, workdir: str) -> None:
    label = _setup(config, workdir)
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    stream_headers = {"x-spanrun-fake": "chunks=100"}

    def chat() -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)

    def stream100() -> None:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=stream_headers,
        )
        n = sum(1 for _ in stream)
        assert n == 103, n  # role chunk, 100 content chunks, finish chunk, usage chunk

    calls = {"chat": chat, "stream100": stream100}
    mock_calls = _mock_calls(openai, workdir)
    for _ in range(WARMUP):
        chat()
        stream100()
    rss_after_warmup = _max_rss_kb()
    out = sys.stdout
    loaded = sys.modules.get("spanrun")
    info = {"version": label, "openai": openai.__version__}
    info["spanrun"] = getattr(loaded, "__file__", None)  # which checkout (benchmarks/ab.py)
    out.write(json.dumps(info) + "\n")
    out.flush()
    clock = time.perf_counter_ns
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as suppress_key
    from opentelemetry.context import attach, detach, set_value

    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            fn, count = calls[args[0]], int(args[1])
            latencies = []
            cpu0 = time.process_time_ns()  # all threads: background exporters included
            thread0 = time.thread_time_ns()  # the calling thread only: the hot path
            for _ in range(count):
                t0 = clock()
                fn()
                latencies.append(clock() - t0)
            thread = (time.thread_time_ns() - thread0) / count
            cpu = (time.process_time_ns() - cpu0) / count
            reply = {"latencies": latencies, "cpu_ns": cpu, "thread_ns": thread}
            out.write(json.dumps(reply) + "\n")
        elif command == "pair":
            # The same call alternately traced and under OTel's suppress-instrumentation key
            # (which every OTel-based instrumentation here honours): adjacent calls in one
            # process see the same machine load, so their difference is the tracing cost.
            fn, count = calls[args[0]], int(args[1])
            traced, untraced = [], []
            for i in range(count):
                for suppressed in (i % 2 == 0, i % 2 == 1):
                    token = attach(set_value(suppress_key, True)) if suppressed else None
                    t0 = clock()
                    fn()
                    elapsed = clock() - t0
                    if token is not None:
                        detach(token)
                    (untraced if suppressed else traced).append(elapsed)
            out.write(json.dumps({"traced": traced, "untraced": untraced}) + "\n")
        elif command == "best":
            # No network: canned answers through the SDK's own transport hook, CPU-bound, and
            # the best of several repeats, which load from other processes can only slow.
            fn, count, repeats = mock_calls[args[0]], int(args[1]), int(args[2])
            best = float("inf")
            for _ in range(repeats):
                t0 = clock()
                for _ in range(count):
                    fn()
                best = min(best, (clock() - t0) / count)
            out.write(json.dumps(best) + "\n")
        elif command == "mem":
            peak = _max_rss_kb()
            out.write(json.dumps({"peak_kb": peak, "growth_kb": peak - rss_after_warmup}) + "\n")
        elif command == "quit":
            out.flush()
            os._exit(0)  # skip exit-time flushes (MLflow's take seconds): not per-call cost
        out.flush()


# -- driver side --------------------------------------------------------------------------------
class Worker:
    def __init__(self, config: str, python: str, base_url: str, workdir: str) -> None:
        self.config = config
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker", config, base_url, workdir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": _child_pythonpath()},
        )
        self.info = json.loads(self._readline())

    def _readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.config} died (exit {self.proc.wait()})")
        return line

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self._readline())

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()


def _p99(values: list[int]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _child_pythonpath() -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks._env import child_pythonpath

    return child_pythonpath(ROOT / "src", ROOT)


def _pythons(configs: list[str]) -> dict[str, str]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks._env import ensure_venv

    pythons = {}
    for config in configs:
        if config in ("bare", "spanrun", "spanrun-otel"):
            pythons[config] = sys.executable
        else:
            name, packages, with_spanrun = PEER_VENVS[config]
            pythons[config] = str(ensure_venv(name, packages, with_spanrun=with_spanrun))
    return pythons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200, help="non-streaming calls per round")
    parser.add_argument("--streams", type=int, default=30, help="100-chunk streams per round")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--configs", nargs="*", default=None)
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line of the figures (ab.py)"
    )
    args = parser.parse_args()
    own = ["bare", "spanrun", "spanrun-otel"]
    configs = args.configs or (own if args.skip_peers else list(CONFIGS))
    if "bare" not in configs:
        configs.insert(0, "bare")

    from spanrun.testing.openai_server import OpenAIServer

    pythons = _pythons(configs)
    samples: dict[tuple[str, str], list[list[int]]] = {(c, m): [] for c in configs for m in MODES}
    cpu: dict[tuple[str, str], list[float]] = {(c, m): [] for c in configs for m in MODES}
    thread: dict[tuple[str, str], list[float]] = {(c, m): [] for c in configs for m in MODES}
    pairs: dict[tuple[str, str], list[dict[str, list[int]]]] = {
        (c, m): [] for c in configs for m in MODES
    }
    with OpenAIServer() as server, tempfile.TemporaryDirectory() as tmp:
        _write_canned(server.base_url, os.path.join(tmp, "canned.json"))
        workers = {}
        for config in configs:
            workdir = os.path.join(tmp, config)
            os.makedirs(workdir)
            workers[config] = Worker(config, pythons[config], server.base_url, workdir)
        try:
            for r in range(args.rounds):
                order = configs[r % len(configs) :] + configs[: r % len(configs)]
                for config in order:
                    for mode, count in (("chat", args.calls), ("stream100", args.streams)):
                        reply = workers[config].ask(f"run {mode} {count}")
                        samples[config, mode].append(reply["latencies"])
                        cpu[config, mode].append(reply["cpu_ns"])
                        thread[config, mode].append(reply["thread_ns"])
                        if config in PAIRED:
                            pairs[config, mode].append(workers[config].ask(f"pair {mode} {count}"))
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
            best = {}
            for r in range(3):  # interleaved too
                for config in configs[r % len(configs) :] + configs[: r % len(configs)]:
                    for mode, count in (("chat", 100), ("stream100", 10)):
                        value = workers[config].ask(f"best {mode} {count} 5")
                        best[config, mode] = min(best.get((config, mode), value), value)
            memory = {config: workers[config].ask("mem") for config in configs}
            same = None
            if "otel-v2" in configs:
                done = subprocess.run(
                    [pythons["otel-v2"], str(Path(__file__).resolve()), "--same-process", tmp],
                    capture_output=True,
                    text=True,
                    cwd=str(ROOT),
                    env={**os.environ, "PYTHONPATH": _child_pythonpath()},
                    check=True,
                )
                same = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            for worker in workers.values():
                worker.close()

    print(
        f"openai {workers['bare'].info['openai']}, {args.rounds} rounds interleaved, "
        f"{args.calls} calls and {args.streams} 100-chunk streams per round and configuration"
    )
    for config in configs:
        print(f"  {config}: {workers[config].info['version']}")
    print()
    header = (
        f"{'configuration':<14} | {'call median':>11} | {'added median':>12} | {'added p99':>10}"
        f" | {'+thread CPU':>11} | {'+CPU':>7} | {'stream median':>13} | {'added median':>12}"
        f" | {'added p99':>10} | {'+thread CPU':>11} | {'+CPU':>7} | {'peak RSS +MB':>12}"
        f" | {'RSS growth MB':>13}"
    )
    print(header)
    print("-" * len(header))
    bare_peak = memory["bare"]["peak_kb"]
    figures: dict[str, dict[str, Any]] = {}

    def figure(key: str, value: float, unit: str = "us") -> None:
        figures[key] = {"value": value, "unit": unit, "better": "lower"}

    for config in configs:
        cells = []
        for mode in MODES:
            cells += _summary(samples[config, mode], samples["bare", mode])
            cells.append(_median_diff(thread[config, mode], thread["bare", mode]) / 1000)
            cells.append(_median_diff(cpu[config, mode], cpu["bare", mode]) / 1000)
        cm, ca, cp, ct, cc, sm, sa, sp, st, sc = cells
        extra_mb = (memory[config]["peak_kb"] - bare_peak) / 1024
        growth_mb = memory[config]["growth_kb"] / 1024
        print(
            f"{config:<14} | {cm:>8.0f} us | {ca:>+9.0f} us | {cp:>+7.0f} us"
            f" | {ct:>+8.0f} us | {cc:>+4.0f} us | {sm:>10.0f} us | {sa:>+9.0f} us"
            f" | {sp:>+7.0f} us | {st:>+8.0f} us | {sc:>+4.0f} us | {extra_mb:>+12.1f}"
            f" | {growth_mb:>13.1f}"
        )
        if config != "bare":
            for mode, (added, p99, thread_cpu, all_cpu) in (
                ("chat", (ca, cp, ct, cc)),
                ("stream", (sa, sp, st, sc)),
            ):
                figure(f"{config} {mode} added median", added)
                figure(f"{config} {mode} added p99", p99)
                figure(f"{config} {mode} +thread CPU", thread_cpu, "us CPU")
                figure(f"{config} {mode} +CPU", all_cpu, "us CPU")
            figure(f"{config} peak RSS +MB", extra_mb, "MB")
    print()
    print("Paired in one process (traced vs suppressed calls alternating; added latency):")
    print(
        f"{'configuration':<14} | {'call median':>11} | {'call p99':>9} | {'stream median':>13}"
        f" | {'stream p99':>10}"
    )
    for config in configs:
        if config not in PAIRED:
            continue
        cells = []
        for mode in MODES:
            rounds = pairs[config, mode]
            cells += _summary([r["traced"] for r in rounds], [r["untraced"] for r in rounds])[1:]
        cm, cp, sm, sp = cells
        print(f"{config:<14} | {cm:>+8.0f} us | {cp:>+6.0f} us | {sm:>+10.0f} us | {sp:>+7.0f} us")
        figure(f"{config} chat paired", cm)
        figure(f"{config} stream paired", sm)
    print()
    print("No network, best of 15 repeats (canned answers via the SDK's transport):")
    print(
        f"{'configuration':<14} | {'call':>9} | {'added':>9}"
        f" | {'100-chunk stream':>16} | {'added':>9}"
    )
    for config in configs:
        chat, stream = (best[config, m] / 1000 for m in MODES)
        added_chat = chat - best["bare", "chat"] / 1000
        added_stream = stream - best["bare", "stream100"] / 1000
        print(
            f"{config:<14} | {chat:>6.0f} us | {added_chat:>+6.0f} us"
            f" | {stream:>13.0f} us | {added_stream:>+6.0f} us"
        )
        if config != "bare":
            figure(f"{config} chat best added", added_chat)
            figure(f"{config} stream best added", added_stream)
    if same is not None:
        print()
        print("Same process, instrumentations switched on in turn (no network, best of 15):")
        for mode in MODES:
            bare = same[f"bare {mode}"]
            added = {n: (same[f"{n} {mode}"] - bare) / 1000 for n in ("spanrun-otel", "otel-v2")}
            print(
                f"  {mode:<10} bare {bare / 1000:>7.0f} us | spanrun instrumentor"
                f" {added['spanrun-otel']:>+5.0f} us | otel-v2 {added['otel-v2']:>+5.0f} us"
            )
            mode_name = "chat" if mode == "chat" else "stream"
            figure(f"same-process spanrun-otel {mode_name} added", added["spanrun-otel"])
            figure(f"same-process otel-v2 {mode_name} added", added["otel-v2"])
    if "otel-v2" in configs:
        # Issue 11's criterion: autolog's added latency at most 0.7x the OTel openai-v2's.
        for config in ("spanrun", "spanrun-otel"):
            for mode in ("chat", "stream"):
                for what in ("added median", "+thread CPU"):
                    ours = figures.get(f"{config} {mode} {what}")
                    peer = figures["otel-v2 " + f"{mode} {what}"]["value"]
                    if ours is not None and peer > 0:
                        figure(f"{config}/otel-v2 {mode} {what}", ours["value"] / peer, "x")
    if args.json:
        workers_files = [w.info.get("spanrun") for w in workers.values()]
        if same is not None:
            workers_files.append(same.get("spanrun"))
        print(json.dumps({"workers": [f for f in workers_files if f], "figures": figures}))


def _median_diff(values: list[float], base: list[float]) -> float:
    return statistics.median(v - b for v, b in zip(values, base, strict=True))


def _summary(rounds: list[list[int]], base: list[list[int]]) -> list[float]:
    """(median, added median, added p99) in microseconds, per-round differences."""
    median = statistics.median
    med = median(median(x) for x in rounds)
    added = _median_diff([median(x) for x in rounds], [median(b) for b in base])
    added_p99 = _median_diff([_p99(x) for x in rounds], [_p99(b) for b in base])
    return [med / 1000, added / 1000, added_p99 / 1000]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "--same-process":
        _same_process(os.path.join(sys.argv[2], "bare"))
    else:
        main()
