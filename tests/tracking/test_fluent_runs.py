"""Runs through the fluent API: lifecycle, nesting, resuming, experiments."""

from __future__ import annotations

import re

import pytest

import spanrun
from spanrun import RunStatus
from spanrun.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)


def test_run_finishes_on_normal_exit() -> None:
    with spanrun.start_run(run_name="first", tags={"team": "nlp"}, description="notes") as run:
        assert spanrun.active_run() is run
        assert run.info.status == "RUNNING"
        spanrun.log_param("p", 1)
    assert spanrun.active_run() is None
    stored = spanrun.get_run(run.info.run_id)
    assert stored.info.status == RunStatus.FINISHED
    assert stored.info.end_time is not None and stored.info.end_time >= stored.info.start_time
    assert stored.info.run_name == "first"
    assert stored.data.tags["mlflow.runName"] == "first"
    assert stored.data.tags["team"] == "nlp"
    assert stored.data.tags["mlflow.note.content"] == "notes"
    assert stored.data.tags["mlflow.source.type"] == "LOCAL"
    assert spanrun.last_active_run().info.run_id == run.info.run_id


def test_run_fails_when_the_block_raises_and_the_exception_propagates() -> None:
    with pytest.raises(ZeroDivisionError), spanrun.start_run() as run:
        spanrun.log_metric("before", 1.0)
        1 / 0  # noqa: B018
    stored = spanrun.get_run(run.info.run_id)
    assert stored.info.status == RunStatus.FAILED
    assert stored.data.metrics["before"] == 1.0
    assert spanrun.active_run() is None


def test_keyboard_interrupt_kills_the_run() -> None:
    with pytest.raises(KeyboardInterrupt), spanrun.start_run() as run:
        raise KeyboardInterrupt
    assert spanrun.get_run(run.info.run_id).info.status == RunStatus.KILLED


def test_generated_run_names_are_readable_and_distinct() -> None:
    names = set()
    for _ in range(5):
        with spanrun.start_run() as run:
            pass
        name = spanrun.get_run(run.info.run_id).info.run_name
        assert re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", name), name
        names.add(name)
    assert len(names) >= 2


def test_second_start_run_needs_nested() -> None:
    with spanrun.start_run() as outer:
        with pytest.raises(InvalidStateError, match=f"{outer.info.run_id}.*nested=True"):
            spanrun.start_run()
        assert spanrun.active_run() is outer


def test_nested_runs_record_their_parent() -> None:
    with spanrun.start_run(run_name="parent") as parent:
        with spanrun.start_run(run_name="child", nested=True) as child:
            assert spanrun.active_run() is child
            with spanrun.start_run(nested=True) as grandchild:
                pass
        assert spanrun.active_run() is parent
    child_run = spanrun.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    grand = spanrun.get_run(grandchild.info.run_id)
    assert grand.data.tags["mlflow.parentRunId"] == child.info.run_id
    assert "mlflow.parentRunId" not in spanrun.get_run(parent.info.run_id).data.tags
    assert spanrun.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert spanrun.get_parent_run(parent.info.run_id) is None


def test_leaving_a_parent_block_ends_children_left_open() -> None:
    with spanrun.start_run() as parent:
        child = spanrun.start_run(nested=True)
    assert spanrun.active_run() is None
    assert spanrun.get_run(child.info.run_id).info.status == RunStatus.FINISHED
    assert spanrun.get_run(parent.info.run_id).info.status == RunStatus.FINISHED


def test_end_run_with_status_and_without_run() -> None:
    spanrun.end_run()  # nothing active: no-op
    run = spanrun.start_run()
    spanrun.end_run(status="KILLED")
    assert spanrun.get_run(run.info.run_id).info.status == RunStatus.KILLED
    with spanrun.start_run():
        with pytest.raises(InvalidInputError, match="BOGUS"):
            spanrun.end_run(status="BOGUS")
        assert spanrun.active_run() is not None


def test_ending_inside_the_block_is_respected() -> None:
    with spanrun.start_run() as run:
        spanrun.end_run("FAILED")
    assert spanrun.get_run(run.info.run_id).info.status == RunStatus.FAILED


def test_resume_a_run_by_id() -> None:
    with spanrun.start_run() as run:
        spanrun.log_metric("m", 1.0, step=0)
    run_id = run.info.run_id
    with spanrun.start_run(run_id=run_id, tags={"resumed": "yes"}) as again:
        assert again.info.run_id == run_id
        assert spanrun.get_run(run_id).info.status == RunStatus.RUNNING
        spanrun.log_metric("m", 2.0, step=1)
    stored = spanrun.get_run(run_id)
    assert stored.info.status == RunStatus.FINISHED
    assert stored.data.tags["resumed"] == "yes"
    assert [m.value for m in spanrun.get_metric_history(run_id, "m")] == [1.0, 2.0]


def test_resume_errors() -> None:
    with pytest.raises(NotFoundError):
        spanrun.start_run(run_id="0" * 32)
    with spanrun.start_run() as run:
        pass
    other = spanrun.create_experiment("other")
    with pytest.raises(InvalidInputError, match="belongs to experiment"):
        spanrun.start_run(run_id=run.info.run_id, experiment_id=other)
    spanrun.delete_run(run.info.run_id)
    with pytest.raises(InvalidStateError, match="deleted"):
        spanrun.start_run(run_id=run.info.run_id)
    assert spanrun.active_run() is None


def test_resume_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with spanrun.start_run() as run:
        pass
    monkeypatch.setenv("SPANRUN_RUN_ID", run.info.run_id)
    with spanrun.start_run() as again:
        assert again.info.run_id == run.info.run_id


def test_logging_without_a_run_starts_one() -> None:
    assert spanrun.active_run() is None
    spanrun.log_metric("auto", 3.0)
    active = spanrun.active_run()
    assert active is not None
    assert spanrun.get_run(active.info.run_id).data.metrics["auto"] == 3.0
    spanrun.end_run()


def test_last_active_run_is_fresh() -> None:
    assert spanrun.last_active_run() is None
    with spanrun.start_run():
        spanrun.log_param("a", "b")
        assert spanrun.last_active_run().data.params["a"] == "b"
    assert spanrun.last_active_run().info.status == RunStatus.FINISHED


def test_set_experiment_creates_and_reuses() -> None:
    exp = spanrun.set_experiment("prompts")
    assert exp.name == "prompts"
    assert spanrun.set_experiment("prompts").experiment_id == exp.experiment_id
    assert spanrun.set_experiment(experiment_id=exp.experiment_id).name == "prompts"
    with spanrun.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    with pytest.raises(InvalidInputError):
        spanrun.set_experiment()
    with pytest.raises(NotFoundError):
        spanrun.set_experiment(experiment_id="987654")


def test_deleted_experiment_cannot_be_activated_until_restored() -> None:
    exp_id = spanrun.create_experiment("gone")
    spanrun.delete_experiment(exp_id)
    with pytest.raises(InvalidStateError, match="deleted"):
        spanrun.set_experiment("gone")
    spanrun.restore_experiment(exp_id)
    assert spanrun.set_experiment("gone").experiment_id == exp_id


def test_experiment_functions() -> None:
    exp_id = spanrun.create_experiment("e1", tags={"owner": "me"})
    with pytest.raises(AlreadyExistsError):
        spanrun.create_experiment("e1")
    with pytest.raises(InvalidInputError):
        spanrun.create_experiment("")
    assert spanrun.get_experiment(exp_id).tags["owner"] == "me"
    assert spanrun.get_experiment_by_name("e1").experiment_id == exp_id
    assert spanrun.get_experiment_by_name("missing") is None
    spanrun.rename_experiment(exp_id, "e2")
    assert spanrun.get_experiment(exp_id).name == "e2"
    names = {e.name for e in spanrun.search_experiments()}
    assert {"Default", "e2"} <= names
    spanrun.set_experiment("e2")
    spanrun.set_experiment_tags({"a": "1", "b": 2})
    assert spanrun.get_experiment(exp_id).tags["b"] == "2"


def test_experiment_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANRUN_EXPERIMENT_NAME", "from-env")
    with spanrun.start_run() as run:
        pass
    assert spanrun.get_experiment(run.info.experiment_id).name == "from-env"


def test_start_run_in_explicit_experiment_and_default() -> None:
    with spanrun.start_run() as run:
        pass
    assert run.info.experiment_id == "0"
    exp_id = spanrun.create_experiment("explicit")
    with spanrun.start_run(experiment_id=exp_id) as run2:
        pass
    assert run2.info.experiment_id == exp_id


def test_log_system_metrics_warns_it_is_not_collected() -> None:
    with (
        pytest.warns(UserWarning, match="system metrics"),
        spanrun.start_run(log_system_metrics=True),
    ):
        pass


def test_delete_run_hides_it_from_search() -> None:
    with spanrun.start_run() as run:
        pass
    spanrun.delete_run(run.info.run_id)
    assert spanrun.search_runs(output_format="list") == []
    assert spanrun.get_run(run.info.run_id).info.lifecycle_stage == "deleted"


def test_flush_hooks_run_before_the_status_is_set_and_failures_are_contained() -> None:
    from spanrun.tracking import _hooks

    seen: list[str] = []

    def hook() -> None:
        active = spanrun.active_run()
        assert active is not None
        seen.append(spanrun.get_run(active.info.run_id).info.status)

    def broken() -> None:
        raise RuntimeError("exporter down")

    spanrun.add_flush_hook(hook)
    spanrun.add_flush_hook(broken)
    spanrun.add_flush_hook(hook)  # registering twice is a no-op
    try:
        with spanrun.start_run() as run:
            pass
    finally:
        _hooks.remove_flush_hook(hook)
        _hooks.remove_flush_hook(broken)
    assert seen == ["RUNNING"]
    assert spanrun.get_run(run.info.run_id).info.status == RunStatus.FINISHED


def test_bad_start_run_arguments_are_typed_errors() -> None:
    with pytest.raises(InvalidInputError, match="tags"):
        spanrun.start_run(tags="team=nlp")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="run_name"):
        spanrun.start_run(run_name=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"mlflow\.note\.content"):
        spanrun.start_run(description="x" * 9000)
    with pytest.raises(NotFoundError):
        spanrun.start_run(experiment_id="12345")
    assert spanrun.active_run() is None


def test_naming_a_run_leaves_the_users_random_seed_alone():
    """Issue 11: one of two run-name generators used the global random module."""
    import random

    from spanrun.core.run_names import generate_run_name
    from spanrun.tracking import get_store_for_uri

    random.seed(1234)
    expected = [random.random() for _ in range(3)]
    random.seed(1234)
    generate_run_name()
    with spanrun.start_run():  # named by the client
        pass
    get_store_for_uri().create_run("0", "u", 1, [], None)  # named by the store
    assert [random.random() for _ in range(3)] == expected


def test_end_run_links_to_the_run_on_a_server(tracking_uri: str, caplog) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="spanrun"), spanrun.start_run() as run:
        pass
    links = [r.getMessage() for r in caplog.records if "view run" in r.getMessage()]
    if tracking_uri.startswith("http"):
        assert links == [
            f"spanrun: view run {run.info.run_id} at {tracking_uri}/runs/{run.info.run_id}"
        ]
    else:
        assert links == []  # a local store: nothing to open
