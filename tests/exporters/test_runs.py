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
    # As left by the parent after a fork:
    runs.sessions[store, None, None] = (os.getpid() + 1, *first)
    assert runs.session_run_id(store) is None
    child = runs.run_for(store, _span(), {}, "3" * 32, {})
    assert child is not None and child != first


def test_a_span_source_names_session_runs_and_chooses_experiments(store: Store) -> None:
    # spanrun server: one session run per service.name, in the experiment the sender chose.
    drops = Drops()
    team = store.create_experiment("team")

    def source(span: Any, attrs: Any) -> tuple[str, str | None]:
        return attrs.get("service"), attrs.get("experiment")

    runs = RunResolver("session", RetryPolicy(2, 0.0, drops.warn_once), drops, source)
    a = runs.run_for(store, _span(), {"service": "a"}, T1, {})
    a_again = runs.run_for(store, _span(), {"service": "a"}, T2, {})
    b = runs.run_for(store, _span(), {"service": "b", "experiment": team}, T1, {})
    assert a is not None and b is not None and a == a_again and a != b
    assert store.get_run(a[0]).info.run_name == "a"
    assert (store.get_run(b[0]).info.run_name, b[1]) == ("b", team)
    assert runs.session_runs() == {("a", "0"): a[0], ("b", team): b[0]}
    assert runs.session_run_id(store) is None  # the program's own session run: none made
    assert runs.experiment_without_run(_span(), {"experiment": team}) == team
    assert runs.experiment_without_run(_span(), {}) == "0"
    assert sorted(runs.take_runs_to_end()) == sorted([(a[0], store), (b[0], store)])
    runs.run_mode = "trace"
    traced = runs.run_for(store, _span(), {"service": "b", "experiment": team}, "3" * 32, {})
    assert traced is not None and traced[1] == team


def test_with_a_source_runs_unknown_here_are_passed_over(store: Store) -> None:
    drops = Drops()
    runs = RunResolver(
        "trace", RetryPolicy(2, 0.0, drops.warn_once), drops, lambda span, attrs: ("svc", None)
    )
    foreign = {"spanrun.run_id": "f" * 32, "spanrun.experiment_id": "0"}
    assert runs.run_for(store, _span(), foreign, T1, {}) == ("f" * 32, "0")  # not known yet
    assert runs.ledger(store, "f" * 32) is UNKNOWN
    ids = runs.run_for(store, _span(), foreign, T1, {T1: "root"})
    assert ids is not None and ids[0] != "f" * 32
    assert store.get_run(ids[0]).info.run_name == "root"
    assert runs.run_for(store, _span(), foreign, T1, {}) == ids  # one run for the trace
    assert runs.run_for(store, _span(), {}, T1, {}) == ids


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
