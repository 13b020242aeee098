"""Manual tracing (issue 14): @spanrun.trace and spanrun.start_span are plain OTel spans that
nest with autologged LLM spans and with the program's own OTel spans in one trace, map to runs
like any other span, and record inputs, outputs and errors as MLflow does."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider

import spanrun
from spanrun import _autolog
from spanrun.errors import UnsupportedError
from tests.e2e._helpers import chat, predictions


@pytest.fixture
def fresh_autolog(monkeypatch: pytest.MonkeyPatch) -> Iterator[_autolog._Autolog]:
    """spanrun.autolog and the manual-tracing provider on a new state, undone after the test."""
    state = _autolog._Autolog()
    for name in ("autolog", "flush", "get_run_exporter", "tracer_provider"):
        monkeypatch.setattr(_autolog, name, getattr(state, name))
    monkeypatch.setattr(_autolog, "_state", state)
    yield state
    state.autolog(disable=True)


def _spans(store: Any, trace_id: str) -> dict[str, Any]:
    return {s.name: s for s in store.get_trace(trace_id).spans}


def test_a_traced_function_nests_llm_and_own_spans_in_one_trace(fresh_autolog, client, store):
    spanrun.autolog()
    tracer = otel_trace.get_tracer("my.app")  # the program's own spans: plain OTel

    @spanrun.trace(span_type="CHAIN", attributes={"team": "search"})
    def answer(question: str) -> str:
        with tracer.start_as_current_span("retrieve"):
            pass
        with spanrun.start_span("post-process", span_type="PARSER") as span:
            span.set_inputs({"draft": "x"})
            span.set_outputs("done")
        return chat(client, f"Context. {question}")

    with spanrun.start_run() as run:
        reply = answer("What is OTel?")
    assert reply
    trace_id = spanrun.get_last_active_trace_id()
    assert trace_id is not None and len(trace_id) == 32
    assert fresh_autolog.flush()

    spans = _spans(store, trace_id)
    root = spans["test_a_traced_function_nests_llm_and_own_spans_in_one_trace.<locals>.answer"]
    assert root.parent_span_id is None and root.run_id == run.info.run_id
    assert root.attributes["spanrun.span_type"] == "CHAIN"
    assert root.attributes["team"] == "search"
    assert root.attributes["input.value"] == "What is OTel?"
    assert root.attributes["output.value"] == reply
    children = {n for n, s in spans.items() if s.parent_span_id == root.span_id}
    assert children == {"retrieve", "post-process", "chat gpt-4o-mini"}
    assert spans["post-process"].attributes["output.value"] == "done"
    assert json.loads(spans["post-process"].attributes["input.value"]) == {"draft": "x"}
    # The LLM call inside the traced function: its prediction row's input is the function's.
    rows = predictions(store, run.info.run_id)
    assert rows["inputs"].tolist() == ["What is OTel?"]
    assert rows["outputs"].tolist() == [reply]


def test_manual_spans_without_autolog_go_to_runs(fresh_autolog, store):
    @spanrun.trace
    def add(a: int, b: int) -> int:
        return a + b

    with spanrun.start_run() as run:
        assert add(2, b=3) == 5
    assert fresh_autolog.flush()
    (info,) = store.search_traces(run_id=run.info.run_id)
    (span,) = store.get_trace(info.trace_id).spans
    assert json.loads(span.attributes["input.value"]) == {"a": 2, "b": 3}
    assert span.attributes["output.value"] == "5"


def test_errors_are_recorded_and_propagate_unchanged(fresh_autolog, store):
    class Boom(Exception):
        pass

    @spanrun.trace(name="fails")
    def fails() -> None:
        raise Boom("no luck")

    with spanrun.start_run(), pytest.raises(Boom, match="no luck"):
        fails()
    assert fresh_autolog.flush()
    (span,) = store.get_trace(spanrun.get_last_active_trace_id()).spans
    assert span.status_code == "ERROR" and span.status_message == "no luck"
    assert span.attributes["error.type"].endswith("Boom")
    assert [e.name for e in span.events] == ["exception"]


def test_generators_and_async(fresh_autolog, store):
    @spanrun.trace
    def count(n: int) -> Iterator[int]:
        yield from range(n)

    @spanrun.trace
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    @spanrun.trace
    async def agen(n: int) -> Any:
        for i in range(n):
            yield i

    async def consume() -> list[int]:
        return [i async for i in agen(2)]

    with spanrun.start_run() as run:
        assert list(count(3)) == [0, 1, 2]
        assert otel_trace.get_current_span().is_recording() is False  # nothing left current
        gen = count(10)
        assert next(gen) == 0
        gen.close()  # stopped early: the span ends, without an error
        assert asyncio.run(double(4)) == 8
        assert asyncio.run(consume()) == [0, 1]
    assert fresh_autolog.flush()
    spans = [
        s
        for info in store.search_traces(run_id=run.info.run_id)
        for s in store.get_trace(info.trace_id).spans
    ]
    outputs = sorted(s.attributes.get("output.value", "-") for s in spans)
    assert outputs == sorted(["[0, 1, 2]", "-", "8", "[0, 1]"])
    assert all(s.status_code != "ERROR" for s in spans)


def test_update_current_trace_tags_the_root(fresh_autolog, store):
    with spanrun.start_run(), spanrun.start_span("root"), spanrun.start_span("child"):
        spanrun.update_current_trace(tags={"user": "u1"})
        live = spanrun.get_current_active_span()
        assert live is not None and live.trace_id == spanrun.get_current_active_span().trace_id
    assert fresh_autolog.flush()
    spans = _spans(store, spanrun.get_last_active_trace_id())
    assert spans["root"].attributes["spanrun.trace.tag.user"] == "u1"
    assert "spanrun.trace.tag.user" not in spans["child"].attributes
    assert spanrun.get_current_active_span() is None


def test_autolog_installs_its_provider_globally_and_warns_about_a_later_one(fresh_autolog, caplog):
    spanrun.autolog()
    assert otel_trace.get_tracer_provider() is fresh_autolog.provider
    with caplog.at_level(logging.WARNING):
        otel_trace.set_tracer_provider(TracerProvider())
    assert otel_trace.get_tracer_provider() is fresh_autolog.provider
    assert "autolog() had already installed the global TracerProvider" in caplog.text


def test_a_provider_set_before_autolog_is_used(fresh_autolog):
    mine = TracerProvider()
    otel_trace.set_tracer_provider(mine)
    spanrun.autolog()
    assert fresh_autolog.provider is mine


def test_mlflow_names_spanrun_lacks_raise_a_typed_error():
    with pytest.raises(UnsupportedError, match="model registry"):
        spanrun.register_model  # noqa: B018
    with pytest.raises(AttributeError):
        spanrun.sklearn  # noqa: B018
    assert not hasattr(spanrun, "register_model")  # hasattr keeps working
    with pytest.raises(AttributeError) as info:
        spanrun.no_such_thing  # noqa: B018
    assert not isinstance(info.value, UnsupportedError)


def test_otel_sdk_disabled_is_said_once(fresh_autolog, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    with caplog.at_level(logging.WARNING, logger="spanrun"):
        spanrun.autolog()
        spanrun.autolog()
    assert caplog.text.count("OTEL_SDK_DISABLED=true") == 1


def test_one_line_says_where_autologged_calls_go(fresh_autolog, client, caplog):
    with caplog.at_level(logging.INFO, logger="spanrun"):
        spanrun.autolog()
        for i in range(3):
            chat(client, f"q{i}")
        assert fresh_autolog.flush()
    lines = [
        r.getMessage() for r in caplog.records if "autolog records LLM calls" in r.getMessage()
    ]
    assert len(lines) == 1
    assert "the session run of this program" in lines[0]
    assert spanrun.get_tracking_uri() in lines[0] and "spanrun ui" in lines[0]


def test_traced_calls_record_inputs_outputs_and_errors_as_mlflow_does(fresh_autolog, store):
    """Each path of the decorator (plain, method, *args/**kwargs, async, generator), what it
    records in the store, and exceptions recorded on every path."""

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    class Service:
        @spanrun.trace(name="method")
        def answer(self, question: str, k: int = 3) -> dict[str, Any]:
            return {"answer": question.upper(), "k": k}

    @spanrun.trace(name="varargs", span_type="TOOL", attributes={"tool": "t"})
    def varargs(a: int, *rest: int, flag: bool = False, **extra: Any) -> None:
        return None

    @spanrun.trace(name="opaque")
    def opaque(obj: Any, n: float) -> Any:
        return obj

    @spanrun.trace(name="async_fails")
    async def async_fails(x: int) -> None:
        await asyncio.sleep(0)
        raise KeyError(x)

    @spanrun.trace(name="gen_fails")
    def gen_fails(n: int) -> Iterator[int]:
        yield n
        raise ValueError("midway")

    with spanrun.start_run() as run:
        assert Service().answer("hi") == {"answer": "HI", "k": 3}
        assert Service().answer("hi", k=5)["k"] == 5
        varargs(1, 2, 3, flag=True, z="zz")
        obj = Opaque()
        assert opaque(obj, n=0.5) is obj
        with pytest.raises(KeyError):
            asyncio.run(async_fails(7))
        gen = gen_fails(4)
        assert next(gen) == 4
        with pytest.raises(ValueError, match="midway"):
            next(gen)
    assert fresh_autolog.flush()
    spans: dict[str, list[Any]] = {}
    for info in store.search_traces(run_id=run.info.run_id):
        for span in store.get_trace(info.trace_id).spans:
            spans.setdefault(span.name, []).append(span.attributes)
    first, second = sorted(spans["method"], key=lambda a: a["input.value"])
    assert first["input.value"] == "hi" and "input.mime_type" not in first  # self left out
    assert json.loads(first["output.value"]) == {"answer": "HI", "k": 3}
    assert first["output.mime_type"] == "application/json"
    assert second["input.value"] == '{"question": "hi", "k": 5}'
    (va,) = spans["varargs"]
    assert va["input.value"] == '{"a": 1, "rest": [2, 3], "flag": true, "extra": {"z": "zz"}}'
    assert va["input.mime_type"] == "application/json"
    assert va["output.value"] == "null"
    assert va["spanrun.span_type"] == "TOOL" and va["tool"] == "t"
    (op,) = spans["opaque"]
    assert op["input.value"] == '{"obj": "<opaque>", "n": 0.5}'
    assert op["output.value"] == '"<opaque>"'
    (af,) = spans["async_fails"]
    assert af["error.type"] == "KeyError" and "output.value" not in af
    (gf,) = spans["gen_fails"]
    assert gf["error.type"] == "ValueError" and gf["input.value"] == '{"n": 4}'
    errors = {
        s.name: (s.status_code, [e.name for e in s.events])
        for info in store.search_traces(run_id=run.info.run_id)
        for s in store.get_trace(info.trace_id).spans
        if s.name in ("async_fails", "gen_fails")
    }
    assert errors == {
        "async_fails": ("ERROR", ["exception"]),
        "gen_fails": ("ERROR", ["exception"]),
    }


def test_start_span_values_and_nesting_under_a_traced_function(fresh_autolog, store):
    @spanrun.trace
    def outer(question: str) -> str:
        with spanrun.start_span("inner", attributes={"n": 1, "tags": ["a", "b"]}) as span:
            span.set_inputs(["x", 1])
            span.set_outputs("plain")
        return question

    with spanrun.start_run():
        outer("q")
    trace_id = spanrun.get_last_active_trace_id()
    assert fresh_autolog.flush()
    spans = _spans(store, trace_id)
    inner = spans["inner"]
    root = next(s for n, s in spans.items() if n.endswith("outer"))
    assert inner.parent_span_id == root.span_id and root.parent_span_id is None
    assert inner.attributes["input.value"] == '["x", 1]'
    assert inner.attributes["input.mime_type"] == "application/json"
    assert (
        inner.attributes["output.value"] == "plain" and "output.mime_type" not in inner.attributes
    )
    assert inner.attributes["n"] == 1 and list(inner.attributes["tags"]) == ["a", "b"]
    assert root.attributes["input.value"] == "q" and root.attributes["output.value"] == "q"
