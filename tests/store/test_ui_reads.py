"""The UI's store reads on SQLite and PostgreSQL: runs by id, down-sampled and bulk metric
histories, run counts, distinct keys, trace filters (each one SQL query)."""

from __future__ import annotations

import math
import random

import pytest

from spanrun.core.entities import Metric, Param, RunTag, SpanRecord, ViewType
from spanrun.errors import InvalidFilterError, InvalidInputError, NotFoundError
from spanrun.store import SqlAlchemyStore, TraceFilter
from spanrun.store._downsample import downsample


def _run(store: SqlAlchemyStore, experiment_id: str = "0", name: str = "r") -> str:
    return store.create_run(experiment_id, "u", 0, [], name).info.run_id


def _log(store: SqlAlchemyStore, run_id: str, metrics: list[Metric]) -> None:
    for start in range(0, len(metrics), 1000):
        store.log_batch(run_id, metrics=metrics[start : start + 1000])


def test_downsampled_history_keeps_every_spike_and_matches_python(
    store: SqlAlchemyStore,
) -> None:
    run_id = _run(store)
    rng = random.Random(3)
    values = [rng.random() for _ in range(5000)]
    values[1234], values[4321] = 50.0, -50.0  # spikes the chart must show
    _log(store, run_id, [Metric("loss", v, 1000 + i, i) for i, v in enumerate(values)])
    full = store.get_metric_history(run_id, "loss")
    sampled = store.get_metric_history(run_id, "loss", max_points=200)
    assert len(full) == 5000
    assert 100 < len(sampled) <= 200
    assert [m.step for m in sampled] == sorted(m.step for m in sampled)
    assert {50.0, -50.0} <= {m.value for m in sampled}
    assert sampled == downsample(full, 200)  # the REST store's Python fallback agrees
    assert store.get_metric_history(run_id, "loss", max_points=5000) == full


def test_ties_and_nan_intervals_pick_the_points_python_picks(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    # Repeated lowest and highest values in every interval (the first of each is kept), and
    # intervals holding only NaNs (their first point is kept).
    values = [math.nan if 30 <= i < 90 else float(i % 3) for i in range(300)]
    _log(store, run_id, [Metric("t", v, 1000 + i, i) for i, v in enumerate(values)])
    full = store.get_metric_history(run_id, "t")
    sampled = store.get_metric_history(run_id, "t", max_points=20)
    expected = downsample(full, 20)
    assert [(m.step, m.timestamp) for m in sampled] == [(m.step, m.timestamp) for m in expected]
    assert any(math.isnan(m.value) for m in sampled)


def test_history_logged_at_one_step_is_sampled_by_time(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    _log(store, run_id, [Metric("m", float(i % 7), 1000 + i, 0) for i in range(1000)])
    sampled = store.get_metric_history(run_id, "m", max_points=100)
    assert 50 <= len(sampled) <= 100  # buckets of time, not one bucket for step 0
    assert sampled == downsample(store.get_metric_history(run_id, "m"), 100)


def test_nan_and_inf_survive_sampling(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    # Two intervals of steps: 0-10 (only NaNs) and 11-20.
    metrics = [Metric("m", math.nan, 10 + i, i) for i in range(11)]
    metrics += [Metric("m", float(i), 100 + i, i) for i in range(11, 20)]
    metrics.append(Metric("m", math.inf, 500, 20))
    _log(store, run_id, metrics)
    sampled = store.get_metric_history(run_id, "m", max_points=4)
    assert math.isnan(sampled[0].value)  # the first interval holds only NaNs
    assert sampled[-1].value == math.inf
    assert len(sampled) <= 4


def test_bulk_histories_in_run_then_key_order(store: SqlAlchemyStore) -> None:
    first, second = _run(store, name="a"), _run(store, name="b")
    _log(store, first, [Metric("x", float(i), i, i) for i in range(300)])
    _log(store, second, [Metric("x", 1.0, 0, 0), Metric("y", 2.0, 0, 0)])
    found = store.get_metric_histories([second, first], ["y", "x", "absent"], max_points=50)
    assert [(h.run_id, h.key, h.total) for h in found] == [
        (second, "y", 1),
        (second, "x", 1),
        (first, "x", 300),
    ]
    assert len(found[2].points) <= 50
    assert found[2].points == store.get_metric_history(first, "x", max_points=50)
    with pytest.raises(NotFoundError):
        store.get_metric_histories([first, "f" * 32], ["x"])
    with pytest.raises(InvalidInputError):
        store.get_metric_history(first, "x", max_points=1)


def test_llm_call_metrics_are_in_the_bulk_histories(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    calls = [
        (i, 1000 + i, 10.0, 5.0, 15.0, 100.0 + i, None, 0.01, *([None] * 5)) for i in range(30)
    ]
    store.log_export_batch({run_id: ([], {}, {}, calls)})
    (found,) = store.get_metric_histories([run_id], ["llm.latency_ms"], max_points=10)
    assert found.total == 30
    assert found.points == store.get_metric_history(run_id, "llm.latency_ms", max_points=10)
    assert found.points[-1].value == 129.0


def test_count_runs_follows_the_filter_and_view(store: SqlAlchemyStore) -> None:
    experiment = store.create_experiment("counted")
    ids = []
    for i in range(25):
        run_id = _run(store, experiment, f"r{i}")
        store.log_batch(
            run_id, metrics=[Metric("m", i / 25, 0, 0)], params=[Param("p", str(i % 3))]
        )
        ids.append(run_id)
    store.delete_run(ids[0])
    assert store.count_runs([experiment]) == 24
    assert store.count_runs([experiment], run_view_type=ViewType.ALL) == 25
    assert store.count_runs([experiment], "metrics.m > 0.5") == len(
        store.search_runs([experiment], "metrics.m > 0.5", max_results=100)
    )
    assert store.count_runs([experiment], "params.p = '1' and metrics.m >= 0") == 8
    assert store.count_runs(["999"]) == 0
    with pytest.raises(InvalidFilterError):
        store.count_runs([experiment], "metrics.m >")


def test_distinct_keys_of_the_experiment_only(store: SqlAlchemyStore) -> None:
    experiment = store.create_experiment("keys")
    other = store.create_experiment("other")
    for i in range(3):
        run_id = _run(store, experiment)
        store.log_batch(
            run_id,
            metrics=[Metric(f"m{i}", 1.0, 0, 0)],
            params=[Param("shared", "x"), Param(f"p{i}", "y")],
            tags=[RunTag("team", "a")],
        )
    store.log_batch(_run(store, other), params=[Param("elsewhere", "z")])
    deleted = _run(store, experiment)
    store.log_batch(deleted, params=[Param("gone", "z")])
    store.delete_run(deleted)
    keys = store.distinct_keys([experiment])
    assert keys.params == ["p0", "p1", "p2", "shared"]
    assert keys.metrics == ["m0", "m1", "m2"]
    assert keys.tags == ["mlflow.runName", "team"]
    assert "gone" in store.distinct_keys([experiment], ViewType.ALL).params


def _span(trace: int, name: str, start_ms: int, duration_ms: int, status: str) -> SpanRecord:
    start = start_ms * 1_000_000
    return SpanRecord(
        trace_id=f"{trace:032x}",
        span_id=f"{trace:016x}",
        parent_span_id=None,
        name=name,
        kind="INTERNAL",
        start_time_ns=start,
        end_time_ns=start + duration_ms * 1_000_000,
        status_code=status,
        experiment_id="0",
    )


def test_trace_filters_in_sql(store: SqlAlchemyStore) -> None:
    store.log_spans(
        [
            _span(1, "chat gpt-4o", 1000, 50, "OK"),
            _span(2, "Chat 100%_done", 2000, 500, "ERROR"),
            _span(3, "embed", 3000, 5, "OK"),
        ]
    )

    def names(found: TraceFilter) -> set[str]:
        return {t.name for t in store.search_traces(["0"], trace_filter=found)}

    assert names(TraceFilter(status="ERROR")) == {"Chat 100%_done"}
    assert names(TraceFilter(name="CHAT")) == {"chat gpt-4o", "Chat 100%_done"}
    assert names(TraceFilter(name="%_")) == {"Chat 100%_done"}  # not wildcards
    assert names(TraceFilter(min_duration_ms=40)) == {"chat gpt-4o", "Chat 100%_done"}
    assert names(TraceFilter(max_duration_ms=50)) == {"chat gpt-4o", "embed"}
    assert names(TraceFilter(start_from_ms=2000, start_to_ms=3000)) == {"Chat 100%_done"}
    with pytest.raises(InvalidInputError):
        store.search_traces(["0"], trace_filter=TraceFilter(status="BAD"))


def test_distinct_keys_walks_the_keys_for_many_runs(
    store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanrun.store import _ui_reads

    experiment = store.create_experiment("walked")
    for i in range(4):
        run_id = _run(store, experiment)
        store.log_batch(
            run_id, metrics=[Metric(f"m{i % 2}", 1.0, 0, 0)], params=[Param(f"p{i}", "v")]
        )
    store.log_batch(_run(store, store.create_experiment("elsewhere")), params=[Param("q", "v")])
    scanned = store.distinct_keys([experiment])
    monkeypatch.setattr(_ui_reads, "FEW_RUNS", 0)  # as for an experiment of 10,000 runs
    walked = store.distinct_keys([experiment])
    assert walked == scanned
    assert walked.params == ["p0", "p1", "p2", "p3"] and walked.metrics == ["m0", "m1"]


def test_ids_and_keys_no_store_holds_are_typed_answers(store: SqlAlchemyStore) -> None:
    run_id = _run(store)
    _log(store, run_id, [Metric("m", float(i), i, i) for i in range(10)])
    with pytest.raises(NotFoundError):
        store.get_metric_histories([run_id, "r\x00"], ["m"])
    with pytest.raises(NotFoundError):
        store.get_metric_history("\ud800", "m", max_points=4)
    assert store.get_metric_history(run_id, "m\x00", max_points=4) == []
    assert [h.key for h in store.get_metric_histories([run_id], ["m", "\x00"])] == ["m"]
    assert len(store.get_metric_history(run_id, "m", max_points=2**62)) == 10
    with pytest.raises(InvalidInputError):
        store.search_traces(["0"], trace_filter=TraceFilter(name="a\x00"))


def test_get_runs_gives_many_runs_in_the_order_asked(store: SqlAlchemyStore) -> None:
    ids = []
    for i in range(3):
        run_id = _run(store, name=f"r{i}")
        store.log_batch(
            run_id,
            metrics=[Metric("loss", float(i), 1, 0), Metric("inf", math.inf, 1, 0)],
            params=[Param("lr", str(i)), Param(f"only{i}", "x")],
            tags=[RunTag("team", "red")],
        )
        ids.append(run_id)
    store.delete_run(ids[1])  # deleted runs are found, as get_run finds them
    found = store.get_runs([ids[2], ids[0], ids[2], ids[1]])
    assert found == [store.get_run(r) for r in (ids[2], ids[0], ids[1])]
    assert found[0].data.params == {"lr": "2", "only2": "x"}
    assert found[2].info.lifecycle_stage == "deleted"
    assert found[1].data.metrics == {"loss": 0.0, "inf": math.inf}
    assert store.get_runs([]) == []
    with pytest.raises(NotFoundError, match=r"f{32}"):
        store.get_runs([ids[0], "f" * 32])
    with pytest.raises(NotFoundError):
        store.get_runs([ids[0], "r\x00"])
    with pytest.raises(InvalidInputError):
        store.get_runs([f"r{i}" for i in range(1001)])
    with pytest.raises(InvalidInputError):
        store.get_runs(ids[0])
