"""The active-run stack is a ContextVar: threads and asyncio tasks behave predictably."""

from __future__ import annotations

import asyncio
import threading

import spanrun


def test_a_new_thread_sees_no_active_run_and_keeps_its_own() -> None:
    seen: dict[str, object] = {}

    def worker() -> None:
        seen["inherited"] = spanrun.active_run()
        with spanrun.start_run(run_name="in-thread") as run:  # no nested=True needed
            seen["own"] = spanrun.active_run().info.run_id  # type: ignore[union-attr]
            spanrun.log_metric("thread_metric", 1.0)
            seen["run_id"] = run.info.run_id

    with spanrun.start_run() as main_run:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert spanrun.active_run() is main_run
    assert seen["inherited"] is None
    assert seen["own"] == seen["run_id"] != main_run.info.run_id
    thread_run = spanrun.get_run(seen["run_id"])  # type: ignore[arg-type]
    assert thread_run.data.metrics == {"thread_metric": 1.0}
    assert "mlflow.parentRunId" not in thread_run.data.tags
    assert spanrun.get_run(main_run.info.run_id).data.metrics == {}


def test_threads_log_to_their_own_runs_concurrently() -> None:
    run_ids: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        with spanrun.start_run(run_name=f"w{i}") as run:
            for step in range(20):
                spanrun.log_metric("i", float(i), step=step)
        with lock:
            run_ids.append(run.info.run_id)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(run_ids)) == 4
    for run_id in run_ids:
        run = spanrun.get_run(run_id)
        history = spanrun.get_metric_history(run_id, "i")
        assert len(history) == 20
        assert {m.value for m in history} == {float(run.info.run_name[1:])}


async def test_tasks_inherit_the_active_run_but_keep_their_own_runs() -> None:
    async def child(name: str) -> tuple[str | None, str]:
        inherited = spanrun.active_run()
        with spanrun.start_run(run_name=name, nested=True) as run:
            await asyncio.sleep(0)
            spanrun.log_param("task", name)
            await asyncio.sleep(0)
            assert spanrun.active_run() is run
        return (inherited.info.run_id if inherited else None), run.info.run_id

    with spanrun.start_run() as parent:
        results = await asyncio.gather(child("a"), child("b"))
        assert spanrun.active_run() is parent
    for inherited, run_id in results:
        assert inherited == parent.info.run_id
        run = spanrun.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params["task"] == run.info.run_name


async def test_a_run_started_in_a_task_does_not_leak_to_the_caller() -> None:
    async def starts_a_run() -> str:
        run = spanrun.start_run()
        return run.info.run_id

    run_id = await asyncio.create_task(starts_a_run())
    assert spanrun.active_run() is None
    assert spanrun.get_run(run_id).info.status == "RUNNING"
