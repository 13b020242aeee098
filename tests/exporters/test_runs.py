"""Run resolution and the ledger cache (``_runs.RunResolver``), on a real SQLite store."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

from spanrun.core.entities import RunTag
from spanrun.core.vocabulary import RUN_MODE_TAG
from spanrun.errors import StoreError
from spanrun.exporters._drops import Drops
from spanrun.exporters._retry import RetryPolicy
from spanrun.exporters._run_ledger import RunLedger
from spanrun.exporters._runs import UNKNOWN, RunResolver, program_name
from spanrun.store.base import Store

T1, T2 = "1" * 32, "2" * 32


def _resolver(mode: str, attempts: int = 2) -> RunResolver:
    drops = Drops()
    return RunResolver(mode, RetryPolicy(attempts, 0.0, drops.warn_once), drops)


def _span(name: str = "chain", start_ns: int = 5_000_000) -> Any:
    return SimpleNamespace(name=name, start_time=start_ns)


def test_a_stamped_run_is_the_spans_and_its_traces() -> None:
    runs = _resolver("none")
    stamped = {"spanrun.run_id": "abc", "spanrun.experiment_id": "3"}
    store: Any = None  # no store operation for stamped spans
    assert runs.run_for(store, _span(), stamped, T1, {}) == ("abc", "3")
    assert runs.run_for(store, _span(), {}, T1, {}) == ("abc", "3")  # same trace, unstamped
    assert runs.run_for(store, _span(), {}, T2, {}) is None  # "none": no run


def test_session_mode_makes_one_run_per_store_and_process(store: Store) -> None:
    runs = _resolver("session")
    first = runs.run_for(store, _span(), {}, T1, {})
    assert first is not None
    assert runs.run_for(store, _span(), {}, T2, {}) == first
    assert runs.session_run_id(store) == first[0]
    run = store.get_run(first[0])
    assert run.info.run_name == program_name()
    assert run.data.tags[RUN_MODE_TAG] == "session"
    assert runs.take_runs_to_end() == [(first[0], store)]
    assert runs.session_run_id(store) is None
    runs.sessions[store] = (os.getpid() + 1, *first)  # as left by the parent after a fork
    assert runs.session_run_id(store) is None
    child = runs.run_for(store, _span(), {}, "3" * 32, {})
    assert child is not None and child != first


def test_trace_mode_makes_a_run_per_trace_named_after_its_root(store: Store) -> None:
    runs = _resolver("trace")
    ids = runs.run_for(store, _span("llm"), {}, T1, {T1: "my chain"})
    assert ids is not None
    assert store.get_run(ids[0]).info.run_name == "my chain"
    assert store.get_run(ids[0]).data.tags["spanrun.trace_id"] == T1
    assert runs.run_for(store, _span("other"), {}, T1, {}) == ids
    assert runs.open_trace_runs == {ids[0]: (T1, store)}
    assert runs.take_runs_to_end() == [(ids[0], store)]
    assert runs.open_trace_runs == {}


def test_ledgers_are_read_once_and_unknown_runs_are_marked(store: Store, caplog) -> None:
    runs = _resolver("none")
    run = store.create_run("0", "me", 0, [RunTag("k", "v")], "r")
    ledger = runs.ledger(store, run.info.run_id)
    assert isinstance(ledger, RunLedger) and ledger.store is store
    assert runs.ledger(store, run.info.run_id) is ledger  # cached
    assert runs.ledger(store, "f" * 32) is UNKNOWN  # not in the store
    assert runs.ledger(store, "not a run id!") is UNKNOWN  # not even asked
    assert "not a run id!" in caplog.text


def test_a_store_that_fails_is_asked_again_later(store: Store, monkeypatch) -> None:
    runs = _resolver("session", attempts=1)
    run = store.create_run("0", "me", 0, [], "r")

    def down(run_id: str) -> Any:
        raise StoreError("locked")

    with monkeypatch.context() as m:
        m.setattr(store, "get_run", down)
        assert runs.ledger(store, run.info.run_id) is None
        m.setattr(store, "create_run", lambda *a, **k: down(""))
        runs._retry.store_down = False
        assert runs.run_for(store, _span(), {}, T1, {}) is None  # no session run yet
    runs._retry.store_down = False
    assert isinstance(runs.ledger(store, run.info.run_id), RunLedger)
    assert runs.run_for(store, _span(), {}, T1, {}) is not None


def test_forget_drops_every_known_run(store: Store) -> None:
    runs = _resolver("session")
    runs.run_for(store, _span(), {"spanrun.run_id": "abc"}, T1, {})
    runs.run_for(store, _span(), {}, T2, {})
    runs.forget()
    assert (runs.ledgers, runs.trace_runs, runs.sessions, runs.open_trace_runs) == ({}, {}, {}, {})
