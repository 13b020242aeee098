"""Params, metrics and tags through the fluent API and the client."""

from __future__ import annotations

import pytest

import spanrun
from spanrun.core.entities import Metric, Param, RunTag
from spanrun.errors import NotFoundError


def test_metric_history_and_latest_value() -> None:
    with spanrun.start_run() as run:
        spanrun.log_metric("loss", 0.9, step=0, timestamp=1000)
        spanrun.log_metric("loss", 0.5, step=2, timestamp=1001)
        spanrun.log_metric("loss", 0.7, step=1, timestamp=1002)
        spanrun.log_metric("plain", 1)
    history = spanrun.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (0, 0.9, 1000),
        (1, 0.7, 1002),
        (2, 0.5, 1001),
    ]
    data = spanrun.get_run(run.info.run_id).data
    assert data.metrics["loss"] == 0.5  # latest by (step, timestamp)
    plain = spanrun.get_metric_history(run.info.run_id, "plain")
    assert plain[0].step == 0 and plain[0].timestamp > 1_600_000_000_000


def test_log_metrics_shares_step_and_timestamp() -> None:
    with spanrun.start_run() as run:
        spanrun.log_metrics({"a": 1.0, "b": 2}, step=3)
    a = spanrun.get_metric_history(run.info.run_id, "a")[0]
    b = spanrun.get_metric_history(run.info.run_id, "b")[0]
    assert (a.step, b.step) == (3, 3) and a.timestamp == b.timestamp


def test_params_tags_and_delete_tag() -> None:
    with spanrun.start_run() as run:
        assert spanrun.log_param("p", 5) == 5
        spanrun.log_params({"q": "x", "r": None})
        spanrun.set_tag("t", 1)
        spanrun.set_tags({"u": "v", "w": 2.5})
        spanrun.set_tag("t", "overwritten")
        spanrun.delete_tag("u")
        with pytest.raises(NotFoundError):
            spanrun.delete_tag("never-set")
    data = spanrun.get_run(run.info.run_id).data
    assert data.params == {"p": "5", "q": "x", "r": "None"}
    assert data.tags["t"] == "overwritten" and data.tags["w"] == "2.5"
    assert "u" not in data.tags


def test_explicit_run_id_for_metrics_and_params() -> None:
    with spanrun.start_run() as first:
        pass
    with spanrun.start_run():
        spanrun.log_metric("m", 1.0, run_id=first.info.run_id)
        spanrun.log_params({"p": 1}, run_id=first.info.run_id)
        spanrun.log_metrics({"n": 2.0}, run_id=first.info.run_id)
    data = spanrun.get_run(first.info.run_id).data
    assert data.metrics == {"m": 1.0, "n": 2.0} and data.params == {"p": "1"}


def test_client_with_explicit_ids(client: spanrun.SpanrunClient) -> None:
    exp_id = client.create_experiment("client-exp", tags={"k": "v"})
    run = client.create_run(exp_id, run_name="r1", tags={"a": "b"})
    run_id = run.info.run_id
    assert run.info.status == "RUNNING" and run.info.run_name == "r1"
    assert client.log_param(run_id, "p", 1) == 1
    client.log_metric(run_id, "m", 0.5, step=4)
    client.set_tag(run_id, "t", "x")
    client.log_batch(
        run_id,
        metrics=[Metric("bm", 2.0, 1234, 1)],
        params=[Param("bp", "y")],
        tags=[RunTag("bt", "z")],
    )
    client.update_run(run_id, name="renamed")
    client.set_terminated(run_id, "FAILED")
    got = client.get_run(run_id)
    assert got.info.status == "FAILED" and got.info.end_time is not None
    assert got.info.run_name == "renamed" and got.data.tags["mlflow.runName"] == "renamed"
    assert got.data.params == {"p": "1", "bp": "y"}
    assert got.data.metrics == {"m": 0.5, "bm": 2.0}
    assert got.data.tags["bt"] == "z" and got.data.tags["a"] == "b"
    assert client.get_metric_history(run_id, "bm") == [Metric("bm", 2.0, 1234, 1)]
    client.update_run(run_id, status="RUNNING")
    assert client.get_run(run_id).info.status == "RUNNING"
    client.delete_run(run_id)
    assert client.search_runs([exp_id]) == []
    client.restore_run(run_id)
    assert [r.info.run_id for r in client.search_runs(exp_id)] == [run_id]
    client.delete_tag(run_id, "t")
    assert "t" not in client.get_run(run_id).data.tags


def test_client_experiments(client: spanrun.SpanrunClient) -> None:
    exp_id = client.create_experiment("one")
    assert client.get_experiment(int(exp_id)).name == "one"  # type: ignore[arg-type]
    client.set_experiment_tag(exp_id, "k", 3)
    assert client.get_experiment(exp_id).tags == {"k": "3"}
    client.rename_experiment(exp_id, "two")
    client.delete_experiment(exp_id)
    from spanrun import ViewType

    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.name for e in deleted] == ["two"]
    client.restore_experiment(exp_id)
    assert client.get_experiment_by_name("two").lifecycle_stage == "active"
    with pytest.raises(NotFoundError):
        client.get_run("f" * 32)


def test_client_bad_ids_are_typed_errors(client: spanrun.SpanrunClient) -> None:
    from spanrun.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="run_id"):
        client.get_run(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="run_id"):
        client.log_metric("", "m", 1.0)
    with pytest.raises(InvalidInputError, match="status"):
        client.set_terminated("a" * 32, "DONE")


def test_client_follows_its_own_uri(tmp_path, client: spanrun.SpanrunClient) -> None:  # type: ignore[no-untyped-def]
    other = spanrun.SpanrunClient(f"sqlite:///{tmp_path / 'other.db'}")
    exp = other.create_experiment("only-there")
    assert other.get_experiment(exp).name == "only-there"
    assert client.get_experiment_by_name("only-there") is None
    assert spanrun.MlflowClient().tracking_uri == client.tracking_uri
