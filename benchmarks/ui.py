"""UI page times in headless Chromium (Debian's package, via Playwright) over a large store.

    python benchmarks/ui.py                       # 10,000 runs x 20 params x 20 metrics
    python benchmarks/ui.py --runs 2000 --repeat 3

Builds a fresh SQLite store (through the store API) holding ``--runs`` runs with 20 params and
20 metrics each, one run with a 100,000-point metric history and one 5,000-span trace; serves
the UI with uvicorn on a thread; and prints the median time of each page, from navigation
to the moment asked for (first rows visible, chart drawn, span tree ready): on the page's own
clock (navigation start to the first animation frame showing it: what a user waits) and on the
harness's wall clock (to Playwright noticing it, which adds its own round trips). Target: 1 s
each, on the page clock. ``--breakdown`` also prints each request's server time and size.
With MLflow available (``scripts/mlflow_env.sh``, or ``--mlflow-python``), the same data is
put into an MLflow SQLite store (``_mlflow_ui_data.py``, straight into its tables), served by
``mlflow server`` and timed on the pages both UIs have: the runs page, compare of 100 runs, and
a run's chart of the 100,000-point history (MLflow: the run's "Model metrics" tab; first chart
drawn). ``--skip-mlflow`` leaves it out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

ROOT = Path(__file__).resolve().parent.parent
# This checkout's sources unless PYTHONPATH gives others (ab.py's OLD side), then its tests.
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT / "src"))
# Before site-packages: some installed distributions ship a top-level ``tests`` package.
sys.path.insert(0, str(ROOT))

from tests.ui._server import serve  # noqa: E402

from spanrun.core.entities import Metric, Param, RunTag, SpanRecord  # noqa: E402
from spanrun.store import get_store  # noqa: E402

TARGET_S = 1.0


def build(uri: str, runs: int) -> dict[str, Any]:
    store = get_store(uri)
    experiment = store.create_experiment("ui-benchmark")
    rng = random.Random(7)
    now = int(time.time() * 1000)
    ids = []
    started = time.perf_counter()
    for i in range(runs):
        run = store.create_run(experiment, "bench", now + i, [], f"run-{i:05d}")
        run_id = run.info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric(f"metric_{k:02d}", rng.random(), now + i, 0) for k in range(20)],
            params=[Param(f"param_{k:02d}", f"v{rng.randrange(5)}") for k in range(20)],
            tags=[RunTag("team", rng.choice(["red", "blue"]))],
        )
        store.update_run_info(run_id, "FINISHED", now + i + 1000)
        ids.append(run_id)
    print(f"  {runs} runs written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    long_run = ids[0]
    values = [Metric("long", float(i % 1000) / 1000, now + i, i) for i in range(100_000)]
    for start in range(0, len(values), 1000):
        store.log_batch(long_run, metrics=values[start : start + 1000])
    trace_id = f"{rng.getrandbits(128):032x}"
    spans = []
    base = time.time_ns()
    for i in range(5000):
        parent = None if i == 0 else f"{(i - 1) // 10 + 1:016x}"
        spans.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=f"{i + 1:016x}",
                parent_span_id=parent,
                name=f"step {i}",
                kind="INTERNAL",
                start_time_ns=base + i * 1000,
                end_time_ns=base + i * 1000 + 500_000,
                status_code="OK",
                attributes={"index": i, "gen_ai.request.model": "gpt-4o-mini"},
                run_id=long_run,
                experiment_id=experiment,
            )
        )
    for start in range(0, len(spans), 1000):
        store.log_spans(spans[start : start + 1000])
    return {"experiment": experiment, "runs": ids, "long_run": long_run, "trace": trace_id}


def existing(uri: str) -> dict[str, Any]:
    """The ids of a store ``build`` made earlier (``--db`` given twice)."""
    store = get_store(uri)
    found = store.get_experiment_by_name("ui-benchmark")
    assert found is not None, "not a store of this benchmark"
    runs = store.search_runs([found.experiment_id], "", max_results=50_000)
    ids = [r.info.run_id for r in sorted(runs, key=lambda r: r.info.run_name)]
    trace = store.search_traces(run_id=ids[0], max_results=1)[0].trace_id
    return {"experiment": found.experiment_id, "runs": ids, "long_run": ids[0], "trace": trace}


#: Run in every page before its own scripts: when a ``bench_ready`` cookie names what to wait
#: for (a CSS selector, or Playwright's ``text=...`` / ``text=/regex/``), the page's own clock
#: (ms since its navigation started) at the first animation frame where it is there.
_READY_WATCH = """(() => {
  const found = document.cookie.match(/(?:^|; )bench_ready=([^;]*)/);
  if (!found || window.top !== window) return;
  const spec = decodeURIComponent(found[1]);
  let test = () => document.querySelector(spec) !== null;
  if (spec.startsWith("text=")) {
    const body = spec.slice(5);
    const re = body.startsWith("/") ? new RegExp(body.slice(1, body.lastIndexOf("/"))) : null;
    test = () => {
      const text = document.body ? document.body.textContent : "";
      return re ? re.test(text) : text.includes(body);
    };
  }
  const check = () => {
    if (test()) { window.__benchReady = performance.now(); return; }
    if (performance.now() < 120000) requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();"""


def measure(
    page: Any, url: str, ready: str, repeat: int, scroll_to: str | None
) -> tuple[float, float]:
    """Medians, in seconds, of ``repeat`` full loads of ``url`` (absolute): on the page's own
    clock, from the start of its navigation to the first frame showing ``ready``; and on the
    harness's wall clock, to Playwright seeing it (which adds its round trips to the browser,
    0.3-0.6 s on a loaded machine). ``scroll_to`` is first brought into view, for what the
    page draws when it is seen."""
    page_clock, wall = [], []
    for _ in range(repeat):
        page.goto("about:blank")  # a full page load each time (a single-page app included)
        page.context.add_cookies([{"name": "bench_ready", "value": quote(ready), "url": url}])
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        if scroll_to:
            page.locator(scroll_to).scroll_into_view_if_needed(timeout=60_000)
        page.wait_for_selector(ready, state="attached", timeout=60_000)
        wall.append(time.perf_counter() - started)
        page.wait_for_function("() => window.__benchReady !== undefined", timeout=10_000)
        page_clock.append(page.evaluate("() => window.__benchReady") / 1000)
    return statistics.median(page_clock), statistics.median(wall)


def breakdown(page: Any, url: str, ready: str, scroll_to: str | None) -> None:
    """Where one load of ``url`` spends its time: DOMContentLoaded, ``ready``, and each
    request's server wait, download and size (printed to stderr)."""
    requests: list[Any] = []

    def finished(request: Any) -> None:
        requests.append(request)

    page.on("requestfinished", finished)
    page.goto("about:blank")
    requests.clear()
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    if scroll_to:
        page.locator(scroll_to).scroll_into_view_if_needed(timeout=60_000)
    page.wait_for_selector(ready, state="attached", timeout=60_000)
    elapsed = time.perf_counter() - started
    page.remove_listener("requestfinished", finished)
    nav = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return [n.responseStart, n.responseEnd, n.domContentLoadedEventEnd]; }"
    )
    print(
        f"  {url[:70]}: ready {elapsed * 1000:.0f} ms; document first byte {nav[0]:.0f} ms, "
        f"last byte {nav[1]:.0f} ms, DOMContentLoaded {nav[2]:.0f} ms",
        file=sys.stderr,
    )
    for request in requests:
        timing = request.timing
        size = request.sizes()["responseBodySize"]
        wait = timing["responseStart"] - timing["requestStart"]
        download = timing["responseEnd"] - timing["responseStart"]
        print(
            f"    {request.url.split('/', 3)[-1][:60]:60} server {wait:6.0f} ms "
            f"download {download:5.0f} ms {size / 1024:8.1f} KB",
            file=sys.stderr,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def mlflow_python(given: str | None) -> str | None:
    if given:
        return given
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mlflow_env.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.split()[-1] if result.returncode == 0 and result.stdout.split() else None


def mlflow_times(
    page: Any, python: str, runs: int, repeat: int, tmp: str
) -> dict[str, tuple[float, float]]:
    """The same pages in MLflow's UI (its own server over its own copy of the data)."""
    uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
    made = subprocess.run(
        [python, str(ROOT / "benchmarks" / "_mlflow_ui_data.py"), uri, str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(made.stdout.strip().splitlines()[-1])
    experiment, ids = data["experiment"], data["runs"]
    port = _free_port()
    server = subprocess.Popen(
        [
            python,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            uri,
            "--default-artifact-root",
            str(Path(tmp) / "mlflow-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers and job runners go with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start")
            time.sleep(0.5)
        compared = json.dumps(ids[:100])
        cases = {
            "runs page, first rows": (
                f"{base}/#/experiments/{experiment}/runs",
                "text=/run-\\d{5}/",
            ),
            "compare 100 runs, tables": (
                f"{base}/#/compare-runs?runs={compared}&experiments={json.dumps([experiment])}",
                "text=param_07",
            ),
            "100,000-point metric chart": (
                f"{base}/#/experiments/{experiment}/runs/{ids[0]}/model-metrics",
                ".js-plotly-plot .scatterlayer .trace",  # the line chart: 'long' (others: bars)
            ),
        }
        measure(page, cases["runs page, first rows"][0], cases["runs page, first rows"][1], 1, None)
        return {
            label: measure(page, url, ready, repeat, None) for label, (url, ready) in cases.items()
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(20)
        # Its job-runner children may outlive the server: the whole group goes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", help="keep the store in this SQLite file (reused when it exists)")
    parser.add_argument("--skip-mlflow", action="store_true", help="time spanrun's UI only")
    parser.add_argument("--mlflow-python", help="the python of a venv with mlflow 3 installed")
    parser.add_argument(
        "--db-copy-of",
        help="time a fresh copy of this store (made by --db), e.g. one per side of an ab.py "
        "A/B (a newer schema migrates its copy, before the timing)",
    )
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line of the figures (ab.py)"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also print, per page, the server time, download and size of each request",
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ui_browser.sh")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db).resolve() if args.db else Path(tmp) / "ui.db"
        if args.db_copy_of:
            db = Path(tmp) / "copy.db"
            shutil.copyfile(args.db_copy_of, db)
        uri = f"sqlite:///{db}"
        if db.exists():
            data = existing(uri)
        else:
            print(f"building the store ({args.runs} runs) ...", file=sys.stderr)
            data = build(uri, args.runs)
        experiment, runs = data["experiment"], data["runs"]
        compared = "&".join(f"run={r}" for r in runs[:100])
        cases: list[tuple[str, str, str] | tuple[str, str, str, str]] = [
            ("runs page, first rows", f"/experiments/{experiment}", "#runs tbody tr.run-row"),
            (
                "runs page, filter applied",
                f"/experiments/{experiment}?filter="
                "metrics.metric_03+%3E+0.5+AND+params.param_07+%3D+%27v2%27",
                "#runs tbody tr.run-row",
            ),
            ("experiments list", "/", "#experiments tbody tr"),
            ("compare 100 runs, tables", f"/compare?{compared}", "#metric-diff tbody tr"),
            (
                "compare 100 runs, first chart",
                f"/compare?{compared}",
                "#charts .chart-body[data-drawn='1']",
                "#charts",
            ),
            (
                "100,000-point metric chart",
                f"/runs/{data['long_run']}",
                "figure.chart[data-key=long] .chart-body[data-drawn='1']",
            ),
            ("5,000-span trace", f"/traces/{data['trace']}", "#span-tree[data-ready='1']"),
        ]
        with serve(uri) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(base_url=base, viewport={"width": 1400, "height": 900})
            page.add_init_script(_READY_WATCH)
            measure(page, urljoin(base, "/"), "#experiments", 1, None)  # warm up
            if args.breakdown:
                for _label, url, ready, *scroll in cases:
                    breakdown(page, url, ready, scroll[0] if scroll else None)
            ours = {
                label: measure(
                    page, urljoin(base, url), ready, args.repeat, scroll[0] if scroll else None
                )
                for label, url, ready, *scroll in cases
            }
            theirs: dict[str, tuple[float, float]] = {}
            python = None if args.skip_mlflow else mlflow_python(args.mlflow_python)
            if python:
                print("timing MLflow's UI on the same data ...", file=sys.stderr)
                theirs = mlflow_times(page, python, len(runs), args.repeat, tmp)
            elif not args.skip_mlflow:
                print("MLflow is not available (scripts/mlflow_env.sh failed)", file=sys.stderr)
            browser.close()
        print(
            "\nmedian s: page clock (navigation start to the first frame showing it) / harness "
            "wall clock (to Playwright seeing it)"
        )
        print(f"{'page':34} {'spanrun':>15} {'MLflow':>15}  target {TARGET_S:.0f} s (page clock)")
        for label, (seconds, harness) in ours.items():
            other = (
                f"{theirs[label][0]:6.3f} / {theirs[label][1]:6.3f}"
                if label in theirs
                else f"{'-':>15}"
            )
            flag = "ok" if seconds <= TARGET_S else "SLOW"
            print(f"{label:34} {seconds:6.3f} / {harness:6.3f} {other}  {flag}")
        if args.json:
            import spanrun

            figures = {
                label: {"value": seconds, "unit": "s", "better": "lower"}
                for label, (seconds, _) in ours.items()
            }
            figures.update(
                {
                    f"{label} (harness wall)": {"value": harness, "unit": "s", "better": "lower"}
                    for label, (_, harness) in ours.items()
                }
            )
            print(json.dumps({"spanrun": spanrun.__file__, "figures": figures}))


if __name__ == "__main__":
    main()
