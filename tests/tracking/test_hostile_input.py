"""Hostile text and limits at the fluent API (issue 10, items 4 and 5), on the SQLite default.

Every entry point refuses a lone surrogate or a NUL with a typed error that names the field and
says what to do, before anything is written; search limits give typed errors. The same rules on
PostgreSQL are in tests/store/test_hostile_input.py.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Any

import pytest

import spanrun
from spanrun.core.entities import ViewType
from spanrun.errors import InvalidFilterError, InvalidInputError

SURROGATE = "a\ud800b"  # a lone surrogate, as surrogateescape decoding leaves them
ESCAPED = "data-\udcff.csv"  # what os.fsdecode makes of the byte 0xff in a file name

# Entry point name -> a call with a lone surrogate in one argument (inside an active run).
SURROGATE_CALLS: dict[str, Callable[[], Any]] = {
    "param value": lambda: spanrun.log_param("p", SURROGATE),
    "params value": lambda: spanrun.log_params({"p": ESCAPED}),
    "param key": lambda: spanrun.log_param(SURROGATE, "v"),
    "tag value": lambda: spanrun.set_tag("t", SURROGATE),
    "tags value": lambda: spanrun.set_tags({"t": ESCAPED}),
    "tag key": lambda: spanrun.set_tag(SURROGATE, "v"),
    "metric key": lambda: spanrun.log_metric(SURROGATE, 1.0),
    "experiment tag value": lambda: spanrun.set_experiment_tag("t", SURROGATE),
    "log_text text": lambda: spanrun.log_text(SURROGATE, "notes.txt"),
    "log_text artifact_file": lambda: spanrun.log_text("fine", ESCAPED),
}
# Calls that need no active run.
SURROGATE_CALLS_OUTSIDE_RUN: dict[str, Callable[[], Any]] = {
    "run name": lambda: spanrun.start_run(run_name=SURROGATE),
    "run description": lambda: spanrun.start_run(description=SURROGATE),
    "run tags": lambda: spanrun.start_run(tags={"t": SURROGATE}),
    "experiment name": lambda: spanrun.create_experiment(SURROGATE),
    "experiment name (set_experiment)": lambda: spanrun.set_experiment(ESCAPED),
    "experiment tags": lambda: spanrun.create_experiment("e", tags={"t": SURROGATE}),
    "artifact_location": lambda: spanrun.create_experiment("e", artifact_location="s3://b/\ud800"),
    "rename_experiment": lambda: spanrun.rename_experiment("0", SURROGATE),
    "get_experiment_by_name": lambda: spanrun.get_experiment_by_name(SURROGATE),
    "run id": lambda: spanrun.get_run(SURROGATE),
}
FILTER_CALLS: dict[str, Callable[[], Any]] = {
    "filter value": lambda: spanrun.search_runs(filter_string=f"params.p = '{SURROGATE}'"),
    "filter key": lambda: spanrun.search_runs(filter_string=f"params.`{SURROGATE}` = 'x'"),
    "order_by": lambda: spanrun.search_runs(order_by=[f"params.`{SURROGATE}` DESC"]),
    "experiment filter": lambda: spanrun.search_experiments(filter_string=f"name = '{ESCAPED}'"),
    "filter NUL": lambda: spanrun.search_runs(filter_string="params.p = 'a\x00b'"),
    "order_by NUL": lambda: spanrun.search_runs(order_by=["params.`a\x00b`"]),
}


def _unchanged_after(call: Callable[[], Any], error: type[Exception], match: str) -> None:
    """``call`` raises ``error`` and leaves every run and experiment as it was."""

    def snapshot() -> Any:
        runs = spanrun.search_runs(search_all_experiments=True, run_view_type=ViewType.ALL)
        experiments = spanrun.search_experiments(view_type=ViewType.ALL)
        return runs.to_dict("list"), [(e.name, e.tags) for e in experiments]

    before = snapshot()
    with pytest.raises(error, match=match):
        call()
    assert snapshot() == before


@pytest.mark.parametrize("name", sorted(SURROGATE_CALLS))
def test_a_lone_surrogate_is_a_typed_error_naming_it(name: str) -> None:
    with spanrun.start_run():
        spanrun.log_param("kept", "value")
        _unchanged_after(SURROGATE_CALLS[name], InvalidInputError, "lone surrogate")


@pytest.mark.parametrize("name", sorted(SURROGATE_CALLS_OUTSIDE_RUN))
def test_a_lone_surrogate_outside_a_run_is_a_typed_error(name: str) -> None:
    with spanrun.start_run():
        spanrun.log_param("kept", "value")
    _unchanged_after(SURROGATE_CALLS_OUTSIDE_RUN[name], InvalidInputError, "lone surrogate")
    assert spanrun.active_run() is None


@pytest.mark.parametrize("name", sorted(FILTER_CALLS))
def test_filters_with_a_surrogate_or_nul_are_invalid_filters(name: str) -> None:
    with spanrun.start_run():
        spanrun.log_param("p", "x")
    with pytest.raises(InvalidFilterError, match=r"lone surrogate|NUL character") as info:
        FILTER_CALLS[name]()
    assert info.value.position is not None


def test_the_error_says_what_to_do() -> None:
    with spanrun.start_run(), pytest.raises(InvalidInputError) as info:
        spanrun.log_param("path", ESCAPED)
    message = str(info.value)
    assert "'path'" in message and "position 5" in message
    assert "surrogateescape" in message and "replace it" in message


@pytest.mark.parametrize(
    "call",
    [
        lambda: spanrun.log_param("p", "a\x00b"),
        lambda: spanrun.log_params({"p": "\x00"}),
        lambda: spanrun.set_tag("t", "a\x00"),
        lambda: spanrun.set_tags({"t": "\x00b"}),
        lambda: spanrun.log_param("a\x00b", "v"),
        lambda: spanrun.set_experiment_tag("t", "\x00"),
    ],
)
def test_nul_in_a_value_or_key_is_refused(call: Callable[[], Any]) -> None:
    with spanrun.start_run():
        _unchanged_after(call, InvalidInputError, "NUL character")


def test_nul_in_names_is_refused() -> None:
    for call in [
        lambda: spanrun.start_run(run_name="a\x00"),
        lambda: spanrun.start_run(description="a\x00"),
        lambda: spanrun.create_experiment("a\x00"),
        lambda: spanrun.rename_experiment("0", "a\x00"),
    ]:
        _unchanged_after(call, InvalidInputError, "NUL character")
    assert spanrun.active_run() is None


def test_log_text_keeps_nul_and_all_valid_text() -> None:
    # A NUL is fine in a file: only the database refuses it.
    text = "a\x00b\x01\u2028\U0001f600\ufffd" + "x" * 10_000
    with spanrun.start_run() as run:
        spanrun.log_text(text, "odd.txt")
    assert spanrun.artifacts.load_text(f"{run.info.artifact_uri}/odd.txt") == text


@pytest.mark.parametrize("max_results", [-1, 0, True, 1.5, "10"])
def test_max_results_must_be_a_positive_integer(max_results: Any) -> None:
    with spanrun.start_run():
        pass
    for call in [
        lambda: spanrun.search_runs(max_results=max_results),
        lambda: spanrun.search_experiments(max_results=max_results),
        lambda: spanrun.MlflowClient().search_runs(["0"], max_results=max_results),
        lambda: spanrun.MlflowClient().search_experiments(max_results=max_results),
    ]:
        with pytest.raises(InvalidInputError, match="max_results"):
            call()


def test_max_results_above_a_page_pages_in_the_fluent_api() -> None:
    with spanrun.start_run():
        pass
    assert len(spanrun.search_runs(max_results=100_001)) == 1  # pages of 50,000 underneath
    with pytest.raises(InvalidInputError, match="50000"):
        spanrun.MlflowClient().search_runs(["0"], max_results=50_001)


@pytest.mark.parametrize("clauses", [100, 300, 600, 1000])
def test_filters_with_many_clauses_work(clauses: int) -> None:
    with spanrun.start_run() as wanted:
        spanrun.log_params({f"p{i}": str(i) for i in range(50)})
        spanrun.log_metrics({f"m{i}": float(i) for i in range(50)})
        spanrun.set_tags({f"t{i}": "on" for i in range(50)})
    with spanrun.start_run():
        spanrun.log_params({f"p{i}": str(i) for i in range(49)})  # lacks p49
    kinds = ["params.p{i} = '{i}'", "metrics.m{i} >= {i}", "tags.t{i} IN ('on', 'x')"]
    filter_string = " and ".join(kinds[n % 3].format(i=n % 50) for n in range(clauses))
    found = spanrun.search_runs(filter_string=filter_string, output_format="list")
    assert [r.info.run_id for r in found] == [wanted.info.run_id]
    # The same filter on attributes only (no joins at all) also works.
    found = spanrun.search_runs(
        filter_string=" and ".join(["attributes.status = 'FINISHED'"] * clauses),
        output_format="list",
    )
    assert len(found) == 2


def test_a_filter_beyond_the_clause_limit_says_the_limit() -> None:
    filter_string = " and ".join(["params.p = 'x'"] * 1001)
    with pytest.raises(InvalidFilterError, match="at most 1000") as info:
        spanrun.search_runs(filter_string=filter_string)
    assert len(str(info.value)) < 600  # the 15 kB filter is not quoted whole
    with pytest.raises(InvalidFilterError, match="at most 10000"):
        spanrun.search_runs(filter_string=f"params.p IN ({', '.join(['1'] * 10_001)})")
    with pytest.raises(InvalidFilterError, match="at most 50"):
        spanrun.search_runs(order_by=[f"params.p{i}" for i in range(51)])


def test_many_order_by_keys_within_the_limit_work() -> None:
    for value in ("1", "2"):
        with spanrun.start_run():
            spanrun.log_params({f"p{i}": value for i in range(50)})
    found = spanrun.search_runs(order_by=[f"params.p{i} DESC" for i in range(50)])
    assert list(found["params.p0"]) == ["2", "1"]


def test_a_filter_that_is_not_a_string_is_invalid() -> None:
    with pytest.raises(InvalidFilterError, match="must be a string"):
        spanrun.search_runs(filter_string=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidFilterError, match="order_by"):
        spanrun.search_runs(order_by=5)  # type: ignore[arg-type]


def test_undecodable_program_and_user_names_do_not_break_start_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both come from the OS: bytes that are not UTF-8 arrive as lone surrogates.
    monkeypatch.setattr(sys, "argv", ["/srv/train-\udcff.py"])
    monkeypatch.setattr(getpass, "getuser", lambda: "b\udce9b")
    with spanrun.start_run() as run:
        pass
    tags = spanrun.get_run(run.info.run_id).data.tags
    assert tags["mlflow.source.name"] == "/srv/train-?.py"
    assert tags["mlflow.user"] == "b?b"
