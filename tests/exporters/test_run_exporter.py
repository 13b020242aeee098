"""RunExporter on a real SQLite store: runs, metrics, params, predictions and traces."""

from __future__ import annotations

import io
import json
import logging

import pandas as pd
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

import spanrun
from spanrun.artifacts import get_artifact_repository
from spanrun.core.vocabulary import AUTOLOG_PREDICTION_COLUMNS
from spanrun.exporters import RunExporter
from spanrun.store.base import Store

from ._genai_spans import chain, llm_call, semconv_attrs


def predictions(store: Store, run_id: str) -> pd.DataFrame:
    repo = get_artifact_repository(store.get_run(run_id).info.artifact_uri)
    data = repo.read_bytes("llm_predictions.csv")
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def history(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in store.get_metric_history(run_id, key)]


def test_calls_inside_a_run_become_metrics_params_rows_and_traces(store, make_pipeline):
    p = make_pipeline(store, prices={"gpt-4o-mini": {"input": 0.15, "output": 0.60}})
    with spanrun.start_run() as run:
        for i in range(3):
            llm_call(p.tracer, user=f"q{i}", answer=f"a{i}", input_tokens=10 + i, temperature=0.2)
    run_id = run.info.run_id
    # end_run() has no flush hook here (no autolog): flush explicitly.
    p.flush()

    assert history(store, run_id, "llm.input_tokens") == [(0, 10), (1, 11), (2, 12)]
    assert history(store, run_id, "llm.output_tokens") == [(0, 5), (1, 5), (2, 5)]
    assert history(store, run_id, "llm.total_tokens") == [(0, 15), (1, 16), (2, 17)]
    assert history(store, run_id, "llm.calls") == [(0, 1), (1, 2), (2, 3)]
    assert history(store, run_id, "llm.cumulative_input_tokens") == [(0, 10), (1, 21), (2, 33)]
    assert history(store, run_id, "llm.cumulative_tokens") == [(0, 15), (1, 31), (2, 48)]
    costs = [v for _, v in history(store, run_id, "llm.cost_usd")]
    assert costs == pytest.approx(
        [(10 * 0.15 + 5 * 0.6) / 1e6, (11 * 0.15 + 3) / 1e6, (12 * 0.15 + 3) / 1e6]
    )
    assert history(store, run_id, "llm.cumulative_cost_usd")[-1][1] == pytest.approx(sum(costs))
    assert [s for s, _ in history(store, run_id, "llm.latency_ms")] == [0, 1, 2]
    assert all(v >= 0 for _, v in history(store, run_id, "llm.latency_ms"))
    assert store.get_metric_history(run_id, "llm.time_to_first_token_ms") == []

    data = store.get_run(run_id).data
    assert data.params == {
        "llm.model": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.temperature": "0.2",
    }
    assert "spanrun.llm.params_varied" not in data.tags

    rows = predictions(store, run_id)
    assert list(rows.columns) == list(AUTOLOG_PREDICTION_COLUMNS)
    assert rows["inputs"].tolist() == ["q0", "q1", "q2"]
    assert rows["outputs"].tolist() == ["a0", "a1", "a2"]
    assert json.loads(rows["prompts"][0]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "q0"},
    ]
    assert rows["model"].tolist() == ["gpt-4o-mini"] * 3
    assert rows["input_tokens"].tolist() == ["10", "11", "12"]
    assert rows["total_tokens"].tolist() == ["15", "16", "17"]
    assert rows["error"].tolist() == ["", "", ""]

    traces = store.search_traces(run_id=run_id)
    assert len(traces) == 3
    assert {t.trace_id for t in traces} == set(rows["trace_id"])
    trace = store.get_trace(rows["trace_id"][0])
    (span,) = trace.spans
    assert span.span_id == rows["span_id"][0]
    assert span.run_id == run_id
    assert span.kind == "CLIENT"
    assert span.attributes["gen_ai.usage.input_tokens"] == 10
    assert span.end_time_ns >= span.start_time_ns


def test_failed_call_has_error_cell_and_error_trace(store, make_pipeline):
    p = make_pipeline(store)
    with spanrun.start_run() as run:
        llm_call(p.tracer, error=True, output_tokens=0)
    p.flush()
    rows = predictions(store, run.info.run_id)
    assert rows["error"].tolist() == ["RateLimitError: slow down"]
    trace = store.get_trace(rows["trace_id"][0])
    assert trace.info.status == "ERROR"
    assert trace.spans[0].status_code == "ERROR"


def test_differing_params_keep_the_first_value_and_tag_the_run(store, make_pipeline):
    p = make_pipeline(store)
    with spanrun.start_run() as run:
        llm_call(p.tracer, temperature=0.2)
        llm_call(p.tracer, temperature=0.9, model="gpt-4o")
    p.flush()
    data = store.get_run(run.info.run_id).data
    assert data.params["llm.temperature"] == "0.2"
    assert data.params["llm.model"] == "gpt-4o-mini"
    assert data.tags["spanrun.llm.params_varied"] == "true"
    # Every call's own values stay in the CSV.
    assert predictions(store, run.info.run_id)["model"].tolist() == ["gpt-4o-mini", "gpt-4o"]


def test_a_resumed_run_continues_its_steps_in_a_new_exporter(store, make_pipeline):
    first = make_pipeline(store)
    with spanrun.start_run() as run:
        llm_call(first.tracer)
        llm_call(first.tracer)
    first.flush()
    second = make_pipeline(store)  # as a new process would: counters come from the store
    with spanrun.start_run(run_id=run.info.run_id):
        llm_call(second.tracer, input_tokens=1)
    second.flush()
    assert history(store, run.info.run_id, "llm.calls") == [(0, 1), (1, 2), (2, 3)]
    assert history(store, run.info.run_id, "llm.cumulative_input_tokens")[-1] == (2, 21)
    assert len(predictions(store, run.info.run_id)) == 3


def test_only_the_innermost_llm_span_counts(store, make_pipeline):
    p = make_pipeline(store)
    with spanrun.start_run() as run, chain(p.tracer):
        # a LangChain chat-model span wrapping the provider's span
        with p.tracer.start_as_current_span(
            "ChatOpenAI",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 5,
            },
        ):
            llm_call(p.tracer, input_tokens=10, output_tokens=5)
        llm_call(p.tracer, input_tokens=1, output_tokens=1)
    p.flush()
    run_id = run.info.run_id
    assert history(store, run_id, "llm.calls") == [(0, 1), (1, 2)]
    assert history(store, run_id, "llm.cumulative_input_tokens")[-1] == (1, 11)
    (trace,) = store.search_traces(run_id=run_id)
    full = store.get_trace(trace.trace_id)
    assert sorted(s.name for s in full.spans) == [
        "ChatOpenAI",
        "chain",
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
    ]
    root = full.root_spans[0]
    assert root.name == "chain"
    assert [c.name for c in full.children(root.span_id)] == ["ChatOpenAI", "chat gpt-4o-mini"]


def test_session_mode_puts_calls_outside_runs_in_one_run_per_process(store, make_pipeline):
    p = make_pipeline(store, run_mode="session")
    llm_call(p.tracer)
    with chain(p.tracer):
        llm_call(p.tracer)
    p.flush()
    run_id = p.exporter.session_run_id
    assert run_id is not None
    run = store.get_run(run_id)
    assert run.info.run_name  # the program's name (pytest's entry point here)
    assert run.data.tags["spanrun.run_mode"] == "session"
    assert run.info.status == "RUNNING"
    assert history(store, run_id, "llm.calls") == [(0, 1), (1, 2)]
    assert len(store.search_traces(run_id=run_id)) == 2
    p.exporter.finish_open_runs()
    ended = store.get_run(run_id).info
    assert ended.status == "FINISHED"
    assert ended.end_time is not None


def test_session_run_goes_to_the_current_experiment(store, make_pipeline):
    experiment = spanrun.set_experiment("autologged")
    p = make_pipeline(store, run_mode="session")
    llm_call(p.tracer)
    p.flush()
    run = store.get_run(p.exporter.session_run_id)
    assert run.info.experiment_id == experiment.experiment_id


def test_a_span_source_sorts_spans_into_session_runs_and_experiments(store, make_pipeline):
    team = store.create_experiment("team")

    def source(span, attrs):
        return span.resource.attributes["service.name"], attrs.get("exp")

    p = make_pipeline(store, run_mode="session", span_source=source)
    llm_call(p.tracer, input_tokens=3)
    llm_call(p.tracer, input_tokens=4)
    with p.tracer.start_as_current_span("to team", attributes={"exp": team}):
        pass
    p.flush()
    sessions = p.exporter.source_session_run_ids
    service = p.provider.resource.attributes["service.name"]
    assert set(sessions) == {(service, "0"), (service, team)}
    run = store.get_run(sessions[service, "0"])
    assert run.info.run_name == service
    assert run.data.metrics["llm.cumulative_input_tokens"] == 7
    assert store.get_run(sessions[service, team]).info.experiment_id == team
    assert p.exporter.session_run_id is None
    # Stamped with a run of another store (the sender's own): mapped as if unstamped.
    foreign = {"spanrun.run_id": "f" * 32, "spanrun.experiment_id": "0"}
    with p.tracer.start_as_current_span("foreign root", attributes=foreign):
        llm_call(p.tracer, input_tokens=5)
    p.flush()
    assert store.get_run(sessions[service, "0"]).data.metrics["llm.cumulative_input_tokens"] == 12
    (trace,) = [t for t in store.search_traces(["0"]) if t.name == "foreign root"]
    assert trace.run_id == sessions[service, "0"]
    # Without a run, traces still land in the source's experiment.
    p.exporter.run_mode = "none"
    with p.tracer.start_as_current_span("unlinked", attributes={"exp": team}):
        pass
    p.flush()
    (trace,) = [t for t in store.search_traces([team]) if t.name == "unlinked"]
    assert trace.run_id is None


def test_trace_mode_makes_one_run_per_root_trace(store, make_pipeline):
    p = make_pipeline(store, run_mode="trace")
    with chain(p.tracer, "summarize"):
        llm_call(p.tracer)
        llm_call(p.tracer)
    with chain(p.tracer, "translate", failed=True):
        llm_call(p.tracer)
    p.flush()
    runs = {r.info.run_name: r for r in store.search_runs(["0"])}
    assert set(runs) == {"summarize", "translate"}
    assert runs["summarize"].info.status == "FINISHED"
    assert runs["translate"].info.status == "FAILED"
    assert runs["summarize"].data.metrics["llm.calls"] == 2
    assert runs["translate"].data.metrics["llm.calls"] == 1
    assert runs["summarize"].data.tags["spanrun.run_mode"] == "trace"
    for run in runs.values():
        (trace,) = store.search_traces(run_id=run.info.run_id)
        assert trace.name == run.info.run_name


def test_none_mode_stores_traces_only(store, make_pipeline):
    p = make_pipeline(store, run_mode="none")
    llm_call(p.tracer)
    p.flush()
    assert list(store.search_runs(["0"])) == []
    (trace,) = store.search_traces(experiment_ids=None)
    assert trace.run_id is None
    assert store.get_trace(trace.trace_id).spans[0].name == "chat gpt-4o-mini"


def test_nested_runs_get_their_own_calls(store, make_pipeline):
    p = make_pipeline(store)
    with spanrun.start_run() as parent:
        llm_call(p.tracer)
        with spanrun.start_run(nested=True) as child:
            llm_call(p.tracer)
            llm_call(p.tracer)
    p.flush()
    assert store.get_run(parent.info.run_id).data.metrics["llm.calls"] == 1
    assert store.get_run(child.info.run_id).data.metrics["llm.calls"] == 2


def test_a_span_inherits_its_parents_run(store, make_pipeline):
    # A trace started inside a run stays with that run, even for spans started where the run
    # stack is not visible (e.g. a thread that got the OTel context but not the run).
    p = make_pipeline(store, run_mode="none")
    with spanrun.start_run() as run, chain(p.tracer) as root:
        pass
    from opentelemetry import trace

    ctx = trace.set_span_in_context(root)
    with p.tracer.start_as_current_span("late child", context=ctx):
        pass
    p.flush()
    trace_id = format(root.get_span_context().trace_id, "032x")
    spans = store.get_trace(trace_id).spans
    assert {s.run_id for s in spans} == {run.info.run_id}


def test_unknown_run_keeps_the_trace_unlinked(store, make_pipeline, caplog):
    p = make_pipeline(store, run_mode="none")
    with p.tracer.start_as_current_span("x", attributes={"spanrun.run_id": "nope"}) as s:
        s.set_attribute("gen_ai.operation.name", "chat")
    with caplog.at_level(logging.WARNING, logger="spanrun"):
        p.flush()
    trace = store.get_trace(format(s.get_span_context().trace_id, "032x"))
    assert trace.spans[0].run_id is None
    assert "nope" in caplog.text


def test_export_never_raises_and_reports_failure(tmp_path, monkeypatch):
    # As users run it: our internal errors are swallowed (the suite re-raises them otherwise).
    monkeypatch.delenv("SPANRUN_RAISE_INTERNAL_ERRORS", raising=False)

    def broken_store() -> Store:
        raise RuntimeError("no store today")

    exporter = RunExporter(broken_store, retry_delay_s=0)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("s").end()  # the SDK calls export() right here
    spans = []

    class Keep(SimpleSpanProcessor):
        def on_end(self, span):
            spans.append(span)

    provider.add_span_processor(Keep(exporter))
    provider.get_tracer("t").start_span("s2").end()
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert exporter.dropped_spans >= 2
    exporter.shutdown()
    exporter.shutdown()  # idempotent
    assert exporter.export(spans) is SpanExportResult.FAILURE


def test_invalid_run_mode_is_a_clear_error():
    with pytest.raises(spanrun.errors.InvalidInputError, match="run_mode"):
        RunExporter(run_mode="per-call")  # type: ignore[arg-type]


def test_spans_from_other_instrumentations_map_to_runs(store, make_pipeline):
    p = make_pipeline(store)
    openinference = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 11,
        "llm.token_count.completion": 4,
        "llm.token_count.total": 15,
        "llm.invocation_parameters": '{"temperature": 0.1}',
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "from openinference",
        "llm.output_messages.0.message.content": "ok",
    }
    openllmetry = {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "from openllmetry",
        "gen_ai.completion.0.content": "ok",
        "gen_ai.usage.prompt_tokens": 9,
        "gen_ai.usage.completion_tokens": 3,
        "gen_ai.request.temperature": 0.1,
    }
    with spanrun.start_run() as run:
        for attrs in (openinference, openllmetry):
            p.tracer.start_span("ChatCompletion", attributes=attrs).end()
    p.flush()
    run_id = run.info.run_id
    assert history(store, run_id, "llm.input_tokens") == [(0, 11), (1, 9)]
    assert history(store, run_id, "llm.total_tokens") == [(0, 15), (1, 12)]
    assert store.get_run(run_id).data.params["llm.temperature"] == "0.1"
    rows = predictions(store, run_id)
    assert rows["inputs"].tolist() == ["from openinference", "from openllmetry"]


def test_a_chains_input_is_the_rows_input(store, make_pipeline):
    p = make_pipeline(store)
    with spanrun.start_run() as run:
        with chain(p.tracer):  # input.value = {"q": 1}
            llm_call(p.tracer, user="rendered prompt")
        llm_call(p.tracer, user="direct call")
        with p.tracer.start_as_current_span("no input recorded"):
            llm_call(p.tracer, user="under a plain span")
    p.flush()
    rows = predictions(store, run.info.run_id)
    assert rows["inputs"].tolist() == ['{"q": 1}', "direct call", "under a plain span"]
    assert "rendered prompt" in rows["prompts"][0]


def test_rows_waiting_for_a_root_are_written_at_finish(store, make_pipeline):
    p = make_pipeline(store)
    with spanrun.start_run() as run:
        outer = p.tracer.start_span("still open")
        from opentelemetry import trace

        with trace.use_span(outer, end_on_exit=False):
            llm_call(p.tracer, user="waiting")
    p.flush()
    # The root is still open: metrics are there, the row waits for the root's input.
    assert store.get_run(run.info.run_id).data.metrics["llm.calls"] == 1
    p.exporter.finish_open_runs()
    assert predictions(store, run.info.run_id)["inputs"].tolist() == ["waiting"]
    outer.end()


def test_session_runs_follow_a_tracking_uri_change(tmp_path, make_pipeline):
    from spanrun.tracking import _uri

    p = make_pipeline(run_mode="session")  # the store of the current tracking URI
    llm_call(p.tracer, user="first store")
    p.flush()
    first = _uri.get_store_for_uri()
    first_run = p.exporter.session_run_id
    spanrun.set_tracking_uri(f"sqlite:///{tmp_path / 'second.db'}")
    llm_call(p.tracer, user="second store")
    p.flush()
    second = _uri.get_store_for_uri()
    second_run = p.exporter.session_run_id
    assert second is not first and second_run != first_run
    assert predictions(first, first_run)["inputs"].tolist() == ["first store"]
    assert predictions(second, second_run)["inputs"].tolist() == ["second store"]
    p.exporter.finish_open_runs()
    assert first.get_run(first_run).info.status == "FINISHED"
    assert second.get_run(second_run).info.status == "FINISHED"


def test_a_run_deleted_meanwhile_loses_its_calls_and_the_rest_is_written(
    store, make_pipeline, caplog
):
    p = make_pipeline(store, run_mode="none")
    with spanrun.start_run() as kept, spanrun.start_run(nested=True) as gone:
        pass
    llm_call(p.tracer, user="before")  # no run: a trace only
    for run in (kept, gone):
        p.tracer.start_span("c", attributes={"spanrun.run_id": run.info.run_id}).end()
    p.flush()  # both runs are known to the exporter now
    store.delete_run(gone.info.run_id)
    for run in (gone, kept):
        with p.tracer.start_as_current_span(
            "chat gpt-4o-mini", attributes={"spanrun.run_id": run.info.run_id}
        ) as span:
            for key, value in semconv_attrs().items():
                span.set_attribute(key, value)
    with caplog.at_level(logging.WARNING, logger="spanrun"):
        p.flush()
    assert "deleted" in caplog.text
    assert p.exporter.dropped_calls == 1
    assert p.exporter.dropped_spans == 0
    assert store.get_run(kept.info.run_id).data.metrics["llm.calls"] == 1
    assert predictions(store, kept.info.run_id)["inputs"].tolist() == ["hi"]
    assert store.get_run(gone.info.run_id).data.metrics == {}
    assert len(store.search_traces(run_id=gone.info.run_id)) == 2  # spans are still kept


def test_prompts_cell_is_the_json_module_text():
    from spanrun.exporters._llm_call_reader import _messages_json

    odd = ["plain", 'quo"te \\ back', "naïve — 日本 😀", "\x00\x1f\n\t", "\ud800 lone", ""]
    messages = [{"role": role, "content": text} for role in ("user", "ünï") for text in odd]
    assert _messages_json(messages) == json.dumps(messages, ensure_ascii=False)
    assert _messages_json([]) == json.dumps([], ensure_ascii=False)
