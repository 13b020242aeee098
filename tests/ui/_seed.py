"""Fill a store for the UI tests (run in a subprocess: ``python _seed.py <tracking_uri>``).

Prints one JSON object with the ids the tests open. Everything is logged through spanrun's
public API and through autolog (the real openai client against spanrun's local server), with
hostile strings (``HOSTILE``) in every place a user, a model or the network can put text.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import tempfile
from pathlib import Path

import openai
import spanrun
from spanrun.testing.openai_server import OpenAIServer

#: Each sets window.__xss when it runs; the tests assert it never does.
HOSTILE = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=2>",
    "javascript:window.__xss=3",
    "\"'><svg onload=window.__xss=4>",
    "</script><script>window.__xss=5</script>",
]
HOSTILE_NAME = "<img src=x onerror=window.__xss=6>"


def _chat(client: openai.OpenAI, text: str, **kwargs: object) -> None:
    client.chat.completions.create(
        model=str(kwargs.pop("model", "gpt-4o-mini")),
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": text},
        ],
        **kwargs,  # type: ignore[arg-type]
    )


def _big_trace(uri: str, run_id: str) -> str:
    """A 331-span trace (a root, 30 children, 10 grandchildren each) logged through the store."""
    from spanrun.entities import SpanRecord
    from spanrun.store import get_store

    trace_id = "ab" * 16
    base = 1_700_000_000_000_000_000
    spans = [SpanRecord(trace_id, f"{1:016x}", None, "root", "INTERNAL", base, base + 10**9)]
    for c in range(30):
        child = f"{2 + c:016x}"
        start = base + c * 30_000_000
        spans.append(
            SpanRecord(trace_id, child, f"{1:016x}", f"child {c}", "INTERNAL", start, start + 10**7)
        )
        for g in range(10):
            spans.append(
                SpanRecord(
                    trace_id,
                    f"{100 + c * 10 + g:016x}",
                    child,
                    f"grandchild {c}.{g}",
                    "INTERNAL",
                    start + g * 10**6,
                    start + g * 10**6 + 500_000,
                    run_id=run_id,
                )
            )
    get_store(uri).log_spans(spans)
    return trace_id


def seed(uri: str) -> dict[str, object]:
    spanrun.set_tracking_uri(uri)
    out: dict[str, object] = {}

    # -- a plain experiment: 60 runs for paging, sorting, filtering and columns -------------
    exp = spanrun.create_experiment("ui-runs")
    out["runs_experiment"] = exp
    spanrun.set_experiment(experiment_id=exp)
    for i in range(60):
        with spanrun.start_run(run_name=f"run-{i:02d}") as run:
            spanrun.log_params({"lr": str(0.001 * (i + 1)), "model": f"m{i % 3}", "batch": "32"})
            spanrun.log_metrics({"accuracy": i / 100, "loss": 1 - i / 100})
            spanrun.set_tag("team", "blue" if i % 2 else "green")
    with spanrun.start_run(run_name="parent-run") as parent:
        spanrun.log_param("lr", "0.5")
        for step in range(300):
            spanrun.log_metric("curve", math.sin(step / 20), step=step)
        for k in range(2):
            with spanrun.start_run(run_name=f"child-{k}", nested=True) as child:
                spanrun.log_param("lr", str(0.1 * (k + 1)))
                spanrun.log_metric("accuracy", 0.9 + k / 100)
        out["child"] = child.info.run_id
    out["parent"] = parent.info.run_id

    # -- a run with a long metric history and every kind of artifact ---------------------------
    with spanrun.start_run(run_name="artifacts-run") as run:
        client = spanrun.MlflowClient()
        rows = [
            ("value", float(math.sin(s / 300) + (5 if s == 4321 else 0)), s) for s in range(20_000)
        ]
        metrics = [spanrun.Metric(k, v, 1_700_000_000_000 + s, s) for k, v, s in rows]
        for start in range(0, len(metrics), 1000):
            client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
        spanrun.log_text("a,b\n1,2\n3,4\n", "tables/data.csv")
        spanrun.log_text("x\ty\n5\t6\n", "tables/data.tsv")
        spanrun.log_table({"question": ["q1", "q2"], "answer": ["a1", "a2"]}, "eval_table.json")
        spanrun.log_dict({"nested": {"k": [1, 2]}}, "config.json")
        spanrun.log_text("key: value\nlist:\n  - 1\n", "config.yaml")
        spanrun.log_text("hello world\n", "notes.txt")
        spanrun.log_text("line of text\n" * 200_000, "big.log")  # 2.6 MB: truncated preview
        from PIL import Image

        image = Image.new("RGB", (40, 30), (200, 30, 30))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "red.png"
            path.write_bytes(buffer.getvalue())
            spanrun.log_artifact(str(path), "images")
    out["artifacts_run"] = run.info.run_id

    # -- autolog: two runs answering the same questions, one differently -------------------
    server = OpenAIServer().start()
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
        spanrun.autolog()
        auto = spanrun.create_experiment("ui-autolog")
        out["autolog_experiment"] = auto
        spanrun.set_experiment(experiment_id=auto)
        predictions = []
        for name, model in (("auto-a", "gpt-4o-mini"), ("auto-b", "gpt-4o")):
            with spanrun.start_run(run_name=name) as run:
                for q in ("What is 2+2?", "Name a colour", "Say hi"):
                    headers = {}
                    if name == "auto-b" and q == "Say hi":
                        headers = {"x-spanrun-fake": "content=Hello there, a different answer"}
                    _chat(client, q, model=model, extra_headers=headers)
                with contextlib.suppress(openai.APIStatusError):
                    failing = {"x-spanrun-fake": "error=500"}
                    _chat(client, "fail please", model=model, extra_headers=failing)
            predictions.append(run.info.run_id)
        out["prediction_runs"] = predictions
        running = spanrun.MlflowClient().create_run(auto, run_name="still-running")
        out["running_run"] = running.info.run_id

        # -- hostile content through the API and through autolog -----------------------------
        evil = spanrun.create_experiment(HOSTILE_NAME)
        out["hostile_experiment"] = evil
        spanrun.set_experiment(experiment_id=evil)
        hostile_runs = []
        for i, payload in enumerate(HOSTILE):
            with spanrun.start_run(run_name=payload) as run:
                spanrun.log_param("p", payload)
                spanrun.log_metric(f"m{i}", 1.0)
                spanrun.set_tags({"t": payload, "mlflow.note.content": payload})
                spanrun.log_text(payload, "notes.txt")
                spanrun.log_text(f"a,b\n{json.dumps(payload)},1\n", "table.csv")
                spanrun.log_table({"col": [payload]}, "table.json")
                name = payload.replace("/", "_")
                spanrun.log_text(payload, f"{name}.txt")
                spanrun.log_text(f"<html><body>{payload}</body></html>", "page.html")
                _chat(client, payload)
            hostile_runs.append(run.info.run_id)
        out["hostile_runs"] = hostile_runs
    finally:
        from spanrun._autolog import flush

        flush()
        server.stop()
    out["big_trace"] = _big_trace(uri, out["parent"])  # type: ignore[arg-type]
    traces = spanrun.search_traces(run_id=out["prediction_runs"][0])  # type: ignore[index]
    out["trace"] = traces[0].trace_id
    failed = [t for t in traces if t.status == "ERROR"]
    out["error_trace"] = failed[0].trace_id if failed else None
    hostile_traces = spanrun.search_traces(run_id=out["hostile_runs"][0])  # type: ignore[index]
    out["hostile_trace"] = hostile_traces[0].trace_id
    return out


if __name__ == "__main__":
    print(json.dumps(seed(sys.argv[1])))
