"""autolog and another instrumentation of the same library (OTel's openai-v2) together: one
GenAI span per call and one counted call in the run, whichever was enabled first (issue 14).

Each case runs a real program in a subprocess (both instrumentors are process-wide) against
spanrun's local OpenAI server and reads what reached the SQLite store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spanrun.store import get_store
from spanrun.testing.openai_server import OpenAIServer

from ._helpers import run_instrumented, run_program

pytest.importorskip("opentelemetry.instrumentation.openai_v2")

_APP = Path(__file__).with_name("_two_instrumentations.py")
_CALLS = 3


def _env(tmp_path: Path, server: OpenAIServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANRUN_TRACK"))}
    env.update(
        SPANRUN_TRACKING_URI=f"sqlite:///{tmp_path / 'both.db'}",
        OPENAI_BASE_URL=server.base_url,
        **extra,
    )
    return env


def _genai_spans(tmp_path: Path, run_id: str) -> list[dict[str, object]]:
    store = get_store(f"sqlite:///{tmp_path / 'both.db'}")
    spans = [
        s for t in store.search_traces(run_id=run_id) for s in store.get_trace(t.trace_id).spans
    ]
    return [s.attributes for s in spans if "gen_ai.operation.name" in s.attributes]


def _check(tmp_path: Path, stdout: str, calls: int) -> None:
    run_id = stdout.strip().splitlines()[-1]
    store = get_store(f"sqlite:///{tmp_path / 'both.db'}")
    run = store.get_run(run_id)
    assert run.data.metrics["llm.calls"] == calls
    genai = _genai_spans(tmp_path, run_id)
    assert len(genai) == calls  # one span per call, not two nested ones
    for attrs in genai:
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["spanrun.run_id"] == run_id
        assert attrs["gen_ai.usage.input_tokens"] > 0
        assert "gen_ai.input.messages" in attrs  # spanrun's own recording, on the one span


@pytest.mark.parametrize("order", ["spanrun-first", "otel-first"])
@pytest.mark.parametrize("mode", ["sync", "stream", "async", "async-stream"])
def test_autolog_and_openai_v2_give_one_span_per_call(
    tmp_path: Path, openai_server: OpenAIServer, order: str, mode: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(_APP), order, mode],
        cwd=tmp_path,
        env=_env(tmp_path, openai_server),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    _check(tmp_path, done.stdout, _CALLS)
    if mode.endswith("stream"):
        run_id = done.stdout.strip().splitlines()[-1]
        for attrs in _genai_spans(tmp_path, run_id):
            assert attrs["gen_ai.response.time_to_first_chunk"] >= 0


@pytest.mark.parametrize("order", ["spanrun-first", "otel-first"])
@pytest.mark.parametrize("mode", ["sync", "stream"])
def test_one_span_per_call_with_openai_v2_on_latest_experimental_conventions(
    tmp_path: Path, openai_server: OpenAIServer, order: str, mode: str
) -> None:
    """openai-v2's other path (OTel util-genai) starts its span bare and names it as spanrun
    does: that span is the call's one span too."""
    env = _env(tmp_path, openai_server, OTEL_SEMCONV_STABILITY_OPT_IN="gen_ai_latest_experimental")
    done = run_program([sys.executable, str(_APP), order, mode], tmp_path, env)
    _check(tmp_path, done.stdout, _CALLS)


_ZERO_CODE_APP = textwrap.dedent(
    """
    import openai
    import spanrun

    client = openai.OpenAI(api_key="k", max_retries=0)
    with spanrun.start_run(run_name="mine") as run:
        for i in range(3):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
            )
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "s"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass
    print(run.info.run_id)
    """
)


def test_opentelemetry_instrument_with_both_openai_instrumentors(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    env = _env(
        tmp_path,
        openai_server,
    )
    done = run_instrumented(tmp_path, _ZERO_CODE_APP, env)
    _check(tmp_path, done.stdout, 4)
