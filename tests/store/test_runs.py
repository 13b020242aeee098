"""Runs: create, get, update, delete/restore, log_batch, tags, metric history."""

from __future__ import annotations

import math

import pytest

from spanrun.core.entities import Metric, Param, RunStatus, RunTag
from spanrun.errors import (
    InvalidInputError,
    InvalidParamChangeError,
    InvalidStateError,
    NotFoundError,
)
from spanrun.store import SqlAlchemyStore


@pytest.fixture
def run_id(store: SqlAlchemyStore) -> str:
    exp_id = store.create_experiment("runs")
    return store.create_run(exp_id, "alice", 1_000, [RunTag("team", "nlp")], "my-run").info.run_id


def test_create_run(store: SqlAlchemyStore) -> None:
    exp_id = store.create_experiment("e")
    run = store.create_run(exp_id, "alice", 123, [RunTag("a", "b")], "named")
    info = run.info
    assert len(info.run_id) == 32 and int(info.run_id, 16) >= 0
    assert (info.experiment_id, info.user_id, info.start_time) == (exp_id, "alice", 123)
    assert info.status == "RUNNING" and info.end_time is None
    assert info.run_name == "named"
    assert info.artifact_uri == f"{store.artifact_root}/{exp_id}/{info.run_id}/artifacts"
    assert run.data.tags == {"a": "b", "mlflow.runName": "named"}
    assert store.get_run(info.run_id) == run


def test_run_names(store: SqlAlchemyStore) -> None:
    generated = store.create_run("0", "u", 1, [], None).info.run_name
    assert generated.count("-") == 2
    from_tag = store.create_run("0", "u", 1, [RunTag("mlflow.runName", "t")], None)
    assert from_tag.info.run_name == "t"


def test_create_run_unknown_experiment(store: SqlAlchemyStore) -> None:
    with pytest.raises(NotFoundError):
        store.create_run("99", "u", 1, [], None)


def test_get_unknown_run(store: SqlAlchemyStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_run("0" * 32)
    with pytest.raises(NotFoundError):
        store.get_metric_history("0" * 32, "m")
    with pytest.raises(NotFoundError):
        store.log_batch("0" * 32, metrics=[Metric("m", 1.0, 1)])


def test_update_run_info(store: SqlAlchemyStore, run_id: str) -> None:
    info = store.update_run_info(run_id, status=RunStatus.FINISHED, end_time=5_000)
    assert (info.status, info.end_time) == ("FINISHED", 5_000)
    info = store.update_run_info(run_id, run_name="renamed")
    assert info.run_name == "renamed" and info.status == "FINISHED"
    assert store.get_run(run_id).data.tags["mlflow.runName"] == "renamed"
    with pytest.raises(InvalidInputError, match="status"):
        store.update_run_info(run_id, status="DONE")


def test_delete_restore_run(store: SqlAlchemyStore, run_id: str) -> None:
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidStateError):
        store.log_batch(run_id, params=[Param("p", "1")])
    with pytest.raises(InvalidStateError):
        store.update_run_info(run_id, status="FINISHED")
    with pytest.raises(InvalidStateError):
        store.delete_tag(run_id, "team")
    store.restore_run(run_id)
    store.log_batch(run_id, params=[Param("p", "1")])
    assert store.get_run(run_id).data.params == {"p": "1"}
    with pytest.raises(NotFoundError):
        store.delete_run("f" * 32)


def test_log_batch_all_kinds(store: SqlAlchemyStore, run_id: str) -> None:
    store.log_batch(
        run_id,
        metrics=[Metric("acc", 0.5, 10, 0), Metric("acc", 0.7, 11, 1), Metric("loss", 2.0, 10)],
        params=[Param("lr", "0.01"), Param("model", "gpt-4o")],
        tags=[RunTag("team", "cv"), RunTag("new", "x")],
    )
    data = store.get_run(run_id).data
    assert data.metrics == {"acc": 0.7, "loss": 2.0}
    assert data.params == {"lr": "0.01", "model": "gpt-4o"}
    assert data.tags == {"team": "cv", "new": "x", "mlflow.runName": "my-run"}


def test_param_change_is_rejected_atomically(store: SqlAlchemyStore, run_id: str) -> None:
    store.log_batch(run_id, params=[Param("lr", "0.01")])
    store.log_batch(run_id, params=[Param("lr", "0.01")])  # same value again: fine
    with pytest.raises(InvalidParamChangeError) as info:
        store.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 1)],
            params=[Param("other", "1"), Param("lr", "0.02")],
            tags=[RunTag("t", "v")],
        )
    message = str(info.value)
    assert "lr" in message and "0.01" in message and "0.02" in message
    data = store.get_run(run_id).data
    assert data.params == {"lr": "0.01"}
    assert data.metrics == {}
    assert "t" not in data.tags
    assert store.get_metric_history(run_id, "m") == []


def test_param_conflict_inside_one_batch(store: SqlAlchemyStore, run_id: str) -> None:
    with pytest.raises(InvalidParamChangeError, match="p"):
        store.log_batch(run_id, params=[Param("p", "1"), Param("p", "2")])
    store.log_batch(run_id, params=[Param("p", "1"), Param("p", "1")])
    assert store.get_run(run_id).data.params == {"p": "1"}


def test_bad_metric_value_writes_nothing(store: SqlAlchemyStore, run_id: str) -> None:
    with pytest.raises(InvalidInputError):
        store.log_batch(
            run_id,
            metrics=[Metric("ok", 1.0, 1), Metric("bad", "x", 1)],  # type: ignore[arg-type]
            params=[Param("p", "1")],
        )
    assert store.get_run(run_id).data.params == {}
    assert store.get_metric_history(run_id, "ok") == []


def test_nan_and_inf_round_trip(store: SqlAlchemyStore, run_id: str) -> None:
    values = [float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324]
    store.log_batch(run_id, metrics=[Metric("v", v, 100 + i, i) for i, v in enumerate(values)])
    history = store.get_metric_history(run_id, "v")
    assert math.isnan(history[0].value)
    assert [h.value for h in history[1:]] == values[1:]
    assert [h.step for h in history] == list(range(len(values)))
    store.log_batch(run_id, metrics=[Metric("n", float("nan"), 1), Metric("i", float("-inf"), 1)])
    metrics = store.get_run(run_id).data.metrics
    assert math.isnan(metrics["n"]) and metrics["i"] == float("-inf")


def test_latest_metric_by_step_then_timestamp(store: SqlAlchemyStore, run_id: str) -> None:
    store.log_batch(run_id, metrics=[Metric("m", 1.0, timestamp=50, step=5)])
    store.log_batch(run_id, metrics=[Metric("m", 2.0, timestamp=99, step=4)])  # older step
    assert store.get_run(run_id).data.metrics["m"] == 1.0
    store.log_batch(run_id, metrics=[Metric("m", 3.0, timestamp=60, step=5)])
    assert store.get_run(run_id).data.metrics["m"] == 3.0
    store.log_batch(run_id, metrics=[Metric("m", 4.0, timestamp=60, step=5)])  # tie: newest
    assert store.get_run(run_id).data.metrics["m"] == 4.0
    # Within one batch as well.
    store.log_batch(
        run_id,
        metrics=[Metric("b", 1.0, 1, 9), Metric("b", 2.0, 1, 3), Metric("b", 3.0, 2, 9)],
    )
    assert store.get_run(run_id).data.metrics["b"] == 3.0


def test_metric_history_order(store: SqlAlchemyStore, run_id: str) -> None:
    store.log_batch(
        run_id,
        metrics=[
            Metric("m", 3.0, timestamp=1, step=2),
            Metric("m", 1.0, timestamp=5, step=0),
            Metric("m", 2.0, timestamp=2, step=1),
            Metric("m", 2.5, timestamp=2, step=1),  # same (step, ts): insertion order
            Metric("other", 9.0, timestamp=1, step=0),
        ],
    )
    history = store.get_metric_history(run_id, "m")
    assert [h.value for h in history] == [1.0, 2.0, 2.5, 3.0]
    assert all(h.key == "m" for h in history)
    assert store.get_metric_history(run_id, "absent") == []


def test_big_batch(store: SqlAlchemyStore, run_id: str) -> None:
    metrics = [Metric(f"m{i % 10}", float(i), 1_000 + i, i // 10) for i in range(1000)]
    params = [Param(f"p{i}", str(i)) for i in range(100)]
    tags = [RunTag(f"t{i}", "v" * 8000) for i in range(100)]
    store.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    data = store.get_run(run_id).data
    assert len(data.params) == 100 and len(data.tags) == 102
    assert data.metrics["m3"] == 993.0
    assert len(store.get_metric_history(run_id, "m7")) == 100


def test_delete_tag(store: SqlAlchemyStore, run_id: str) -> None:
    store.delete_tag(run_id, "team")
    assert "team" not in store.get_run(run_id).data.tags
    with pytest.raises(NotFoundError, match="team"):
        store.delete_tag(run_id, "team")


def test_odd_keys_and_values_stay_data(store: SqlAlchemyStore, run_id: str) -> None:
    odd = "x'; DROP TABLE runs; --"
    store.log_batch(
        run_id,
        metrics=[Metric(odd, 1.0, 1)],
        params=[Param(odd, odd), Param("unicode", "Grüße ✓ 中文")],
        tags=[RunTag("q", '"%_\\')],
    )
    data = store.get_run(run_id).data
    assert data.params == {odd: odd, "unicode": "Grüße ✓ 中文"}
    assert data.metrics == {odd: 1.0}
    assert data.tags["q"] == '"%_\\'


def test_bad_keys_and_lengths_are_typed_errors(store: SqlAlchemyStore, run_id: str) -> None:
    for bad in ("", None, "k" * 251):
        with pytest.raises(InvalidInputError):
            store.log_batch(run_id, params=[Param(bad, "v")])  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            store.log_batch(run_id, metrics=[Metric(bad, 1.0, 1)])  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            store.log_batch(run_id, tags=[RunTag(bad, "v")])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.create_run("0", "u", 1, [], "n" * 251)
    with pytest.raises(InvalidInputError):
        store.update_run_info(run_id, run_name="n" * 251)
    with pytest.raises(InvalidInputError):
        store.create_experiment("e" * 257)
    with pytest.raises(InvalidInputError):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 2**63)])
    with pytest.raises(InvalidInputError):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, step=-(2**64))])
    with pytest.raises(InvalidInputError):
        store.create_run("0", "u", 10**20, [], None)
    with pytest.raises(InvalidInputError):
        store.update_run_info(run_id, end_time="soon")  # type: ignore[arg-type]
    assert store.get_run(run_id).data.params == {}
