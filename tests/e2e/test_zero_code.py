"""Zero-code (issue 14): `opentelemetry-instrument python app.py` with OTEL_TRACES_EXPORTER=spanrun
loads spanrun's instrumentors from their entry points and maps the spans into runs: a call made
inside start_run goes to that run, the others to a session run that is ended at exit. Also
RunExporter on a plain BatchSpanProcessor (no autolog, no stamping processor)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from spanrun.store import get_store
from spanrun.testing.openai_server import OpenAIServer

from ._helpers import run_instrumented

_APP = textwrap.dedent(
    """
    import openai
    import spanrun

    client = openai.OpenAI(api_key="k", max_retries=0)
    def ask(text):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
    ask("outside")
    with spanrun.start_run(run_name="mine") as run:
        ask("inside 1")
        ask("inside 2")
    print(run.info.run_id)
    """
)


def _env(tmp_path: Path, server: OpenAIServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANRUN_TRACK"))}
    env.update(
        SPANRUN_TRACKING_URI=f"sqlite:///{tmp_path / 'zero.db'}",
        OPENAI_BASE_URL=server.base_url,
        OTEL_SERVICE_NAME="zero-code-app",
        **extra,
    )
    return env


def _check(tmp_path: Path, stdout: str) -> None:
    run_id = stdout.strip().splitlines()[-1]
    store = get_store(f"sqlite:///{tmp_path / 'zero.db'}")
    mine = store.get_run(run_id)
    assert mine.data.metrics["llm.calls"] == 2
    others = [r for r in store.search_runs(["0"]) if r.info.run_id != run_id]
    (session,) = others
    assert session.data.metrics["llm.calls"] == 1
    assert session.info.status == "FINISHED"  # ended at exit, not left RUNNING
    spans = [
        s for t in store.search_traces(run_id=run_id) for s in store.get_trace(t.trace_id).spans
    ]
    assert len(spans) == 2  # one span per call


def test_opentelemetry_instrument_maps_calls_into_runs(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    env = _env(
        tmp_path,
        openai_server,
        # The official OpenAI instrumentation is installed in the test environment too: one
        # instrumentation of a library at a time.
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
    )
    done = run_instrumented(tmp_path, _APP, env)
    _check(tmp_path, done.stdout)


_PLAIN = textwrap.dedent(
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from spanrun.exporters import RunExporter
    from spanrun.instrumentation.openai import OpenAIInstrumentor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(RunExporter()))
    trace.set_tracer_provider(provider)
    OpenAIInstrumentor().instrument()
    """
)


def test_run_exporter_on_a_plain_batch_span_processor(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    (tmp_path / "app.py").write_text(_PLAIN + _APP)
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=tmp_path,
        env=_env(tmp_path, openai_server),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    _check(tmp_path, done.stdout)
