"""``synchronous=False``: queued values, wait(), errors, flush at end_run and at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import spanrun
from spanrun.errors import InvalidInputError, InvalidParamChangeError, InvalidStateError
from spanrun.tracking._async_logging import AsyncLogger, RunOperations


def test_async_values_are_written_by_end_run() -> None:
    with spanrun.start_run() as run:
        for step in range(500):
            ops = spanrun.log_metric("m", float(step), step=step, synchronous=False)
        spanrun.log_param("p", "v", synchronous=False)
        spanrun.set_tag("t", "x", synchronous=False)
        spanrun.log_metrics({"a": 1.0, "b": 2.0}, synchronous=False)
        spanrun.log_params({"q": 1}, synchronous=False)
        spanrun.set_tags({"u": "w"}, synchronous=False)
        assert isinstance(ops, RunOperations)
    history = spanrun.get_metric_history(run.info.run_id, "m")
    assert [m.value for m in history] == [float(s) for s in range(500)]
    data = spanrun.get_run(run.info.run_id).data
    assert data.params == {"p": "v", "q": "1"}
    assert data.tags["t"] == "x" and data.tags["u"] == "w"
    assert data.metrics["a"] == 1.0


def test_wait_returns_once_written() -> None:
    with spanrun.start_run() as run:
        ops = spanrun.log_metric("m", 1.0, synchronous=False)
        ops.wait()
        assert spanrun.get_run(run.info.run_id).data.metrics["m"] == 1.0


def test_synchronous_calls_return_none_or_the_value() -> None:
    with spanrun.start_run():
        assert spanrun.log_metric("m", 1.0) is None
        assert spanrun.log_param("p", 2) == 2


def test_environment_switches_async_logging_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANRUN_ENABLE_ASYNC_LOGGING", "true")
    with spanrun.start_run() as run:
        assert isinstance(spanrun.log_metric("m", 1.0), RunOperations)
        assert spanrun.log_metric("n", 1.0, synchronous=True) is None
    assert spanrun.get_run(run.info.run_id).data.metrics == {"m": 1.0, "n": 1.0}


def test_bad_input_still_raises_at_the_call() -> None:
    with spanrun.start_run():
        with pytest.raises(InvalidInputError):
            spanrun.log_metric("m", "x", synchronous=False)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            spanrun.log_param("bad key!", 1, synchronous=False)


def test_background_error_is_reraised_and_other_values_are_kept() -> None:
    run = spanrun.start_run()
    run_id = run.info.run_id
    spanrun.log_param("lr", "0.1")
    before = spanrun.log_metric("m", 1.0, synchronous=False)
    bad = spanrun.log_param("lr", "0.2", synchronous=False)
    after = spanrun.log_metric("m", 2.0, step=1, synchronous=False)
    with pytest.raises(InvalidParamChangeError, match="lr"):
        bad.wait()
    before.wait()
    after.wait()
    with pytest.raises(InvalidParamChangeError):
        spanrun.end_run()  # reports the failure after ending the run
    assert spanrun.active_run() is None
    stored = spanrun.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.params["lr"] == "0.1"
    assert [m.value for m in spanrun.get_metric_history(run_id, "m")] == [1.0, 2.0]


def test_failed_block_is_not_masked_by_async_errors() -> None:
    with pytest.raises(RuntimeError, match="user"), spanrun.start_run() as run:
        spanrun.log_param("x", "1")
        spanrun.log_param("x", "2", synchronous=False)
        raise RuntimeError("user")
    assert spanrun.get_run(run.info.run_id).info.status == "FAILED"


def test_bounded_queue_makes_callers_wait_instead_of_dropping() -> None:
    from spanrun.tracking import _validation as check

    logger = AsyncLogger(max_pending=5)
    with spanrun.start_run() as run:
        store = spanrun.SpanrunClient().store
        ops = [
            logger.enqueue(store, run.info.run_id, [check.metric("m", float(i), None, i)])
            for i in range(200)
        ]
        logger.flush()
        for op in ops:
            op.wait()
    assert len(spanrun.get_metric_history(run.info.run_id, "m")) == 200


def test_values_queued_before_exit_are_written(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    script = textwrap.dedent(
        f"""
        import spanrun
        spanrun.set_tracking_uri({uri!r})
        run = spanrun.start_run()
        print(run.info.run_id, flush=True)
        for i in range(3000):
            spanrun.log_metric("m", float(i), step=i, synchronous=False)
        spanrun.log_param("p", "last", synchronous=False)
        # no end_run(), no flush: the exit hook must write everything and end the run
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    run_id = out.stdout.strip().splitlines()[-1]
    client = spanrun.SpanrunClient(uri)
    assert len(client.get_metric_history(run_id, "m")) == 3000
    run = client.get_run(run_id)
    assert run.data.params == {"p": "last"}
    assert run.data.metrics["m"] == 2999.0
    assert run.info.status == "FINISHED"


def test_queued_values_of_a_deleted_run_fail_with_a_typed_error() -> None:
    run = spanrun.start_run()
    run_id = run.info.run_id
    spanrun.end_run()
    spanrun.delete_run(run_id)
    client = spanrun.SpanrunClient()
    ops = [client.log_metric(run_id, "m", float(i), step=i, synchronous=False) for i in range(50)]
    assert ops[0] is not None and ops[-1] is not None
    with pytest.raises(InvalidStateError, match="deleted"):
        ops[-1].wait()
    with pytest.raises(InvalidStateError):
        ops[0].wait()
    with pytest.raises(InvalidStateError):
        spanrun.flush_async_logging()
    spanrun.flush_async_logging()  # reported once


def test_values_and_other_calls_mixed_in_one_queue_keep_their_order() -> None:
    with spanrun.start_run() as run:
        for i in range(300):
            spanrun.log_metric("m", float(i), step=i, synchronous=False)
            if i % 100 == 0:
                spanrun.log_metrics({"m": -1.0, "x": float(i)}, step=i, synchronous=False)
                spanrun.log_param(f"p{i}", i, synchronous=False)
        other = spanrun.start_run(nested=True)
        spanrun.log_metric("m", 5.0, synchronous=False)
        spanrun.end_run()
    values = [m.value for m in spanrun.get_metric_history(run.info.run_id, "m")]
    assert len(values) == 303
    assert values[:4] == [0.0, -1.0, 1.0, 2.0]  # step 0: logged order kept
    data = spanrun.get_run(run.info.run_id).data
    assert data.metrics == {"m": 299.0, "x": 200.0}
    assert data.params == {"p0": "0", "p100": "100", "p200": "200"}
    assert spanrun.get_run(other.info.run_id).data.metrics == {"m": 5.0}


def test_nan_inf_and_odd_numbers_survive_the_queue() -> None:
    import math

    import numpy as np

    with spanrun.start_run() as run:
        for value in (math.nan, math.inf, -math.inf, np.float32(0.5), 3, 2**70):
            spanrun.log_metric("m", value, synchronous=False)
        with pytest.raises(InvalidInputError):
            spanrun.log_metric("m", 1.0, timestamp=2**64, synchronous=False)
        with pytest.raises(InvalidInputError):
            spanrun.log_metric("m", 1.0, step=1.5, synchronous=False)  # type: ignore[arg-type]
    values = [m.value for m in spanrun.get_metric_history(run.info.run_id, "m")]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf, 0.5, 3.0, float(2**70)]
