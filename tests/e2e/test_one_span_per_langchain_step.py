"""autolog and OpenInference's LangChain instrumentor together: one span per LangChain step and
one counted call per chat model call, whichever was enabled first (issue 14).

OpenInference is not in the venv (its ``opentelemetry_instrumentor`` entry point would switch on
in the other zero-code tests): ``scripts/openinference_env.sh`` installs it into a folder that
only these subprocesses get on ``PYTHONPATH``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spanrun.core.entities import SpanRecord
from spanrun.store import get_store
from spanrun.testing.openai_server import OpenAIServer

from ._helpers import predictions, run_instrumented, run_program

pytest.importorskip("langchain_openai")

_ROOT = Path(__file__).parents[2]
_APP = Path(__file__).with_name("_two_langchain_tracers.py")
_CALLS = 2


@pytest.fixture(scope="module")
def openinference_dir() -> str:
    done = subprocess.run(
        ["bash", str(_ROOT / "scripts" / "openinference_env.sh")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"could not install openinference-instrumentation-langchain: {done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def _run_app(
    tmp_path: Path, server: OpenAIServer, openinference_dir: str, order: str, mode: str
) -> tuple[str, str, str]:
    """Runs the app; returns (store URI, run id, stderr)."""
    uri = f"sqlite:///{tmp_path / 'both.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANRUN_TRACK"))}
    env.update(
        SPANRUN_TRACKING_URI=uri,
        OPENAI_BASE_URL=server.base_url,
        PYTHONPATH=os.pathsep.join(filter(None, [openinference_dir, os.environ.get("PYTHONPATH")])),
    )
    done = run_program([sys.executable, str(_APP), order, mode], tmp_path, env)
    return uri, done.stdout.strip().splitlines()[-1], done.stderr


def _spans(uri: str, run_id: str) -> list[SpanRecord]:
    store = get_store(uri)
    return [
        s for t in store.search_traces(run_id=run_id) for s in store.get_trace(t.trace_id).spans
    ]


@pytest.mark.parametrize("order", ["spanrun-first", "openinference-first"])
@pytest.mark.parametrize("mode", ["sync", "stream", "async", "with-openai"])
def test_autolog_and_openinference_give_one_span_per_step(
    tmp_path: Path, openai_server: OpenAIServer, openinference_dir: str, order: str, mode: str
) -> None:
    uri, run_id, stderr = _run_app(tmp_path, openai_server, openinference_dir, order, mode)
    store = get_store(uri)
    run = store.get_run(run_id)
    assert run.data.metrics["llm.calls"] == _CALLS

    spans = _spans(uri, run_id)
    # Every step once: no OpenInference span (neither a second trace nor a nested copy).
    assert not [s.name for s in spans if "openinference.span.kind" in s.attributes]
    names = sorted(s.name for s in spans)
    expected = ["chain RunnableSequence", "prompt ChatPromptTemplate", "parser StrOutputParser"]
    expected += ["chat gpt-4o-mini"] * (2 if mode == "with-openai" else 1)  # + the OpenAI span
    assert names == sorted(expected * _CALLS + ["execute_tool add"])
    assert len(store.search_traces(run_id=run_id)) == _CALLS + 1  # each chain one trace, + tool
    assert {s.run_id for s in spans} == {run_id}

    rows = predictions(store, run_id)
    assert [json.loads(x) for x in rows["inputs"]] == [{"topic": f"t{i}"} for i in range(_CALLS)]
    assert rows["outputs"].tolist() == [f"Echo: Tell me about t{i}" for i in range(_CALLS)]
    assert all(int(n) > 0 for n in rows["input_tokens"])
    if mode == "stream":
        assert run.data.metrics["llm.time_to_first_token_ms"] >= 0
    assert stderr.count("OpenInference's tracer is left out") == 1  # said, once


def test_autolog_of_no_library_maps_openinference_spans_into_the_run(
    tmp_path: Path, openai_server: OpenAIServer, openinference_dir: str
) -> None:
    """What the README offers to keep OpenInference's spans: they make the run's calls."""
    uri, run_id, stderr = _run_app(
        tmp_path, openai_server, openinference_dir, "openinference-first", "openinference-only"
    )
    run = get_store(uri).get_run(run_id)
    assert run.data.metrics["llm.calls"] == _CALLS
    kinds = [s.attributes.get("openinference.span.kind") for s in _spans(uri, run_id)]
    assert kinds.count("LLM") == _CALLS and kinds.count("TOOL") == 1
    rows = predictions(get_store(uri), run_id)
    # OpenInference records a one-string input as the string itself.
    assert rows["inputs"].tolist() == [f"t{i}" for i in range(_CALLS)]
    assert rows["outputs"].tolist() == [f"Echo: Tell me about t{i}" for i in range(_CALLS)]
    assert all(int(n) > 0 for n in rows["input_tokens"])
    assert "left out" not in stderr


_ZERO_CODE_APP = """
import os
import shutil
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
import spanrun

llm = ChatOpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="k", model="gpt-4o-mini")
chain = ChatPromptTemplate.from_messages([("user", "Tell me about {topic}")]) | llm
chain = chain | StrOutputParser()
with spanrun.start_run(run_name="zero-code") as run:
    for i in range(2):
        assert chain.invoke({"topic": f"t{i}"}) == f"Echo: Tell me about t{i}"
print(run.info.run_id)
"""


def test_opentelemetry_instrument_with_both_langchain_instrumentors(
    tmp_path: Path, openai_server: OpenAIServer, openinference_dir: str
) -> None:
    """Zero-code: every installed instrumentor is switched on (spanrun's LangChain and OpenAI
    ones, OTel's openai-v2, OpenInference's LangChain one); still one span per step."""
    uri = f"sqlite:///{tmp_path / 'zero.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANRUN_TRACK"))}
    env.update(
        SPANRUN_TRACKING_URI=uri,
        OPENAI_BASE_URL=openai_server.base_url,
        PYTHONPATH=os.pathsep.join(filter(None, [openinference_dir, os.environ.get("PYTHONPATH")])),
    )
    done = run_instrumented(tmp_path, _ZERO_CODE_APP, env)
    run_id = done.stdout.strip().splitlines()[-1]
    assert get_store(uri).get_run(run_id).data.metrics["llm.calls"] == _CALLS
    # Everything stored, in any run: per chain one trace of chain, prompt, chat model, the
    # OpenAI call under it, parser (without the fix OpenInference's copies land in a session run).
    store = get_store(uri)
    traces = store.search_traces(experiment_ids=["0"], max_results=1000)
    spans = [s for t in traces for s in store.get_trace(t.trace_id).spans]
    assert not [s.name for s in spans if "openinference.span.kind" in s.attributes]
    assert len(spans) == 5 * _CALLS
    assert len(traces) == _CALLS
    assert {s.run_id for s in spans} == {run_id}
    assert "OpenInference's tracer is left out" in done.stderr  # it was really switched on
