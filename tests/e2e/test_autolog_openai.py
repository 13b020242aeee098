"""autolog + the real openai client + spanrun's local OpenAI server, in every run mode."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

import openai
import spanrun
from spanrun.store.base import Store

from ._helpers import chat, predictions, steps


def test_calls_inside_a_run(autolog, client, store):
    autolog.autolog(prices={"gpt-4o-mini": {"input": 0.15, "output": 0.6}})
    with spanrun.start_run(run_name="inside") as run:
        answers = [chat(client, f"question {i}", temperature=0.3, max_tokens=20) for i in range(3)]
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    # end_run() flushed the spans (flush hook): everything is readable right away.
    run_id = run.info.run_id
    assert answers == [f"Echo: question {i}" for i in range(3)]
    assert streamed == "Echo: stream please"

    saved = store.get_run(run_id)
    assert saved.info.status == "FINISHED"
    assert saved.data.params == {
        "llm.model": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.temperature": "0.3",
        "llm.max_tokens": "20",
    }
    # The stream set no temperature: an unset value is not a different one.
    assert "spanrun.llm.params_varied" not in saved.data.tags
    assert steps(store, run_id, "llm.calls") == [(0, 1), (1, 2), (2, 3), (3, 4)]
    inputs = steps(store, run_id, "llm.input_tokens")
    outputs = steps(store, run_id, "llm.output_tokens")
    assert [s for s, _ in inputs] == [0, 1, 2, 3]
    assert all(v > 0 for _, v in inputs + outputs)
    total_in = sum(v for _, v in inputs)
    assert steps(store, run_id, "llm.cumulative_input_tokens")[-1] == (3, total_in)
    cost = steps(store, run_id, "llm.cost_usd")
    assert len(cost) == 4
    assert saved.data.metrics["llm.cumulative_cost_usd"] == pytest.approx(sum(v for _, v in cost))
    ttft = steps(store, run_id, "llm.time_to_first_token_ms")
    assert [s for s, _ in ttft] == [3]  # only the stream

    rows = predictions(store, run_id)
    assert rows["inputs"].tolist() == ["question 0", "question 1", "question 2", "stream please"]
    assert rows["outputs"].tolist() == [*answers, streamed]
    assert json.loads(rows["prompts"][0]) == [{"role": "user", "content": "question 0"}]
    assert rows["model"].tolist() == ["gpt-4o-mini"] * 4
    assert rows["input_tokens"].tolist() == [str(int(v)) for _, v in inputs]
    assert set(rows["error"]) == {""}

    traces = store.search_traces(run_id=run_id)
    assert {t.trace_id for t in traces} == set(rows["trace_id"])
    for _, row in rows.iterrows():
        trace = store.get_trace(row["trace_id"])
        (span,) = trace.spans
        assert span.span_id == row["span_id"]
        assert span.name == "chat gpt-4o-mini"
        assert span.kind == "CLIENT"
        assert span.run_id == run_id
        assert span.attributes["gen_ai.request.model"] == "gpt-4o-mini"
        assert span.end_time_ns > span.start_time_ns


def test_failed_call_is_recorded_and_raises_unchanged(autolog, client, store):
    autolog.autolog()
    with spanrun.start_run() as run, pytest.raises(openai.NotFoundError):
        chat(client, "x", model="model-does-not-exist")
    rows = predictions(store, run.info.run_id)
    assert rows["model"].tolist() == ["model-does-not-exist"]
    assert rows["error"][0].startswith("NotFoundError")
    # Through the public fluent API, as a user reads them.
    (info,) = spanrun.search_traces(run_id=run.info.run_id)
    assert info.status == "ERROR"
    (span,) = spanrun.get_trace(info.trace_id).spans
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "NotFoundError"
    assert span.end_time_ns > span.start_time_ns
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("NotFoundError")


def test_session_mode_outside_runs(autolog, client, store):
    autolog.autolog()  # run_mode="session" is the default
    chat(client, "one")
    chat(client, "two")
    with spanrun.start_run() as run:
        chat(client, "inside")
    chat(client, "three")
    autolog.flush()
    session_id = autolog.exporter.session_run_id
    runs = {r.info.run_id: r for r in store.search_runs(["0"])}
    assert set(runs) == {session_id, run.info.run_id}
    assert runs[session_id].data.tags["spanrun.run_mode"] == "session"
    assert predictions(store, session_id)["inputs"].tolist() == ["one", "two", "three"]
    assert steps(store, session_id, "llm.calls") == [(0, 1), (1, 2), (2, 3)]
    assert predictions(store, run.info.run_id)["inputs"].tolist() == ["inside"]
    autolog.autolog(disable=True)  # as at exit: the session run ends
    assert store.get_run(session_id).info.status == "FINISHED"


def test_trace_mode_outside_runs(autolog, client, store):
    autolog.autolog(run_mode="trace")
    tracer = autolog.provider.get_tracer("app")
    with tracer.start_as_current_span("answer questions"):
        chat(client, "a")
        chat(client, "b")
    chat(client, "alone")
    autolog.flush()
    runs = {r.info.run_name: r for r in store.search_runs(["0"])}
    assert set(runs) == {"answer questions", "chat gpt-4o-mini"}
    assert all(r.info.status == "FINISHED" for r in runs.values())
    grouped = runs["answer questions"].info.run_id
    assert predictions(store, grouped)["inputs"].tolist() == ["a", "b"]
    (info,) = store.search_traces(run_id=grouped)
    trace = store.get_trace(info.trace_id)
    (root,) = trace.root_spans
    assert root.name == "answer questions"
    assert [c.name for c in trace.children(root.span_id)] == ["chat gpt-4o-mini"] * 2


def test_none_mode_outside_runs_stores_traces_only(autolog, client, store):
    autolog.autolog(run_mode="none")
    chat(client, "trace me")
    autolog.flush()
    assert list(store.search_runs(["0"])) == []
    (info,) = store.search_traces(experiment_ids=["0"])
    assert info.run_id is None
    span = store.get_trace(info.trace_id).spans[0]
    assert "trace me" in span.attributes["gen_ai.input.messages"]


def test_nested_runs(autolog, client, store):
    autolog.autolog(run_mode="none")
    with spanrun.start_run() as parent:
        chat(client, "parent 1")
        with spanrun.start_run(nested=True) as child:
            chat(client, "child 1")
            chat(client, "child 2")
        chat(client, "parent 2")
    assert predictions(store, parent.info.run_id)["inputs"].tolist() == ["parent 1", "parent 2"]
    assert predictions(store, child.info.run_id)["inputs"].tolist() == ["child 1", "child 2"]
    assert steps(store, child.info.run_id, "llm.calls") == [(0, 1), (1, 2)]
    assert store.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id


def _check_run(store: Store, run_id: str, prefix: str, n: int) -> None:
    rows = predictions(store, run_id)
    assert sorted(rows["inputs"]) == sorted(f"{prefix} {i}" for i in range(n))
    assert steps(store, run_id, "llm.calls") == [(i, i + 1) for i in range(n)]
    assert len(store.search_traces(run_id=run_id)) == n


def test_threads_calling_at_once_in_different_runs(autolog, client, store):
    autolog.autolog(run_mode="none")
    n_threads, n_calls = 4, 5
    run_ids: dict[int, str] = {}
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            with spanrun.start_run(run_name=f"thread-{k}") as run:
                run_ids[k] = run.info.run_id
                barrier.wait()
                for i in range(n_calls):
                    assert chat(client, f"t{k} {i}") == f"Echo: t{k} {i}"
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k, run_id in run_ids.items():
        _check_run(store, run_id, f"t{k}", n_calls)


async def test_asyncio_tasks_calling_at_once_in_different_runs(autolog, async_client, store):
    autolog.autolog(run_mode="none")
    n_tasks, n_calls = 4, 5

    async def work(k: int) -> str:
        with spanrun.start_run(run_name=f"task-{k}") as run:
            for i in range(n_calls):
                reply = await async_client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"a{k} {i}"}]
                )
                assert reply.choices[0].message.content == f"Echo: a{k} {i}"
                await asyncio.sleep(0)
            return run.info.run_id

    run_ids = await asyncio.gather(*(work(k) for k in range(n_tasks)))
    assert len(set(run_ids)) == n_tasks
    for k, run_id in enumerate(run_ids):
        _check_run(store, run_id, f"a{k}", n_calls)


def test_log_content_false_keeps_prompts_out(autolog, client, store):
    autolog.autolog(log_content=False)
    with spanrun.start_run() as run:
        chat(client, "secret prompt")
    rows = predictions(store, run.info.run_id)
    assert rows["inputs"].tolist() == [""]
    assert rows["outputs"].tolist() == [""]
    assert int(rows["input_tokens"][0]) > 0
    span = store.get_trace(rows["trace_id"][0]).spans[0]
    assert "secret prompt" not in json.dumps(span.attributes)


def test_autolog_is_idempotent_and_disable_undoes_it(autolog, client, store):
    autolog.autolog()
    autolog.autolog()
    with spanrun.start_run() as run:
        chat(client, "once")
    assert len(predictions(store, run.info.run_id)) == 1  # not two rows: no double patching
    autolog.autolog(disable=True)
    with spanrun.start_run() as run2:
        chat(client, "not logged")
    assert store.search_traces(run_id=run2.info.run_id) == []
    autolog.autolog()
    with spanrun.start_run() as run3:
        chat(client, "logged again")
    assert predictions(store, run3.info.run_id)["inputs"].tolist() == ["logged again"]


def test_public_entry_points(client, store):
    assert spanrun.openai.autolog is not None and spanrun.langchain.autolog is not None
    spanrun.openai.autolog(run_mode="none")
    try:
        with spanrun.start_run() as run:
            chat(client, "public")
        assert predictions(store, run.info.run_id)["inputs"].tolist() == ["public"]
    finally:
        spanrun.autolog(disable=True)
    with spanrun.start_run() as run2:
        chat(client, "off")
    assert store.search_traces(run_id=run2.info.run_id) == []


def test_unknown_library_and_run_mode_are_clear_errors(autolog):
    with pytest.raises(spanrun.errors.InvalidInputError, match="library"):
        autolog.autolog(libraries=["anthropic"])
    with pytest.raises(spanrun.errors.InvalidInputError, match="run_mode"):
        autolog.autolog(run_mode="per-call")  # type: ignore[arg-type]


def test_reuses_the_users_tracer_provider(autolog, client, store):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    theirs = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    autolog.autolog(tracer_provider=provider)
    with spanrun.start_run() as run:
        chat(client, "shared")
    (span,) = theirs.get_finished_spans()
    assert span.attributes["spanrun.run_id"] == run.info.run_id  # stamped for them too
    rows = predictions(store, run.info.run_id)
    assert rows["span_id"].tolist() == [format(span.context.span_id, "016x")]
    provider.shutdown()
