"""The writer thread (``_writer.Writer``): jobs in order, one at a time, idle work after."""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value

from spanrun.core import internal_errors
from spanrun.exporters._writer import IDLE_AFTER_S, Writer


def test_jobs_run_in_order_one_at_a_time_on_one_thread() -> None:
    writer = Writer()
    done: list[tuple[int, str, object]] = []
    running = threading.Lock()

    def job(i: int) -> None:
        assert running.acquire(blocking=False)  # never two at once
        time.sleep(0.002)
        name = threading.current_thread().name
        done.append((i, name, get_value(_SUPPRESS_INSTRUMENTATION_KEY)))
        running.release()

    for i in range(5):
        writer.submit(lambda i=i: job(i))
    assert writer.wait(5)
    assert [d[0] for d in done] == list(range(5))
    assert {d[1] for d in done} == {"spanrun-store-writer"}
    assert {d[2] for d in done} == {True}  # the writer's own calls are not traced
    assert not writer.busy


def test_submit_waits_for_the_job_in_flight_and_wait_times_out() -> None:
    writer = Writer()
    release = threading.Event()
    writer.submit(release.wait)
    assert writer.busy
    assert not writer.wait(0.05)
    second = threading.Thread(target=writer.submit, args=(lambda: None,))
    second.start()
    second.join(0.05)
    assert second.is_alive()  # one job in flight at most
    release.set()
    second.join(5)
    assert writer.wait(5)


def test_a_failing_job_is_logged_and_the_thread_goes_on(caplog, monkeypatch) -> None:
    monkeypatch.delenv(internal_errors.RAISE_ENV, raising=False)  # as users run
    internal_errors.reset()
    writer = Writer()
    ran: list[str] = []
    writer.submit(lambda: 1 / 0)
    writer.submit(lambda: ran.append("next"))
    assert writer.wait(5)
    assert ran == ["next"]
    assert "internal error while writing spans" in caplog.text
    internal_errors.raise_deferred()  # nothing kept for users: it does not raise


def test_a_failing_job_is_raised_on_the_callers_thread_under_the_test_suite() -> None:
    internal_errors.reset()
    writer = Writer()
    writer.submit(lambda: 1 / 0)
    assert writer.wait(5)
    with pytest.raises(ZeroDivisionError):
        internal_errors.raise_deferred()
    internal_errors.raise_deferred()  # once only


def test_wait_from_a_job_does_not_wait_on_itself() -> None:
    writer = Writer()
    results: list[bool] = []
    writer.submit(lambda: results.append(writer.wait(5)))
    assert writer.wait(5)
    assert results == [True]


def test_idle_runs_after_a_job_and_again_while_it_asks() -> None:
    calls: list[float] = []

    def idle() -> bool:
        calls.append(time.monotonic())
        return len(calls) < 3  # True: call again later

    writer = Writer(idle)
    ended = time.monotonic()
    writer.submit(lambda: None)
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(IDLE_AFTER_S * 3)
    assert len(calls) == 3  # not called again once it returned False
    assert calls[0] - ended >= IDLE_AFTER_S * 0.5
