"""Property: with any text and numbers, every public tracking call either succeeds and reads back
exactly, or raises a ``spanrun.errors`` type; the SQLite file stays sound (issue 10).

Text covers every code point (lone surrogates and NUL included), control characters, quotes and
very long strings; numbers cover NaN, infinities, huge and negative values. Each example works in
its own run (nested runs too) of the test's store.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import spanrun
from spanrun.errors import InvalidFilterError, SpanrunError

T = TypeVar("T")

_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    # The store is the test's (function-scoped) one: examples share it, each in its own run.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_HOSTILE = [
    "\ud800",
    "a\udcffb",
    "a\x00b",
    "\x00",
    "\x01\x1f\x7f\u2028\u2029",
    "x" * 6001,
    "y" * 100_000,
    "'",
    "`",
    '"',
    "%_\\",
    "..",
    "/a/../b",
    " ",
    "\U0001f600",
    "\ufeff",
]
_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30) | st.sampled_from(
    _HOSTILE
)
_key = st.text(st.sampled_from("abc_./- :\x00\ud800é"), min_size=0, max_size=12) | _text
_number = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, -0.0, 5e-324, True])
)
_step = st.none() | st.integers(min_value=-(2**64), max_value=2**64)


def _attempt(call: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[bool, T | None]:
    """(True, result), or (False, None) for a spanrun error; anything else fails the test."""
    try:
        return True, call(*args, **kwargs)
    except SpanrunError:
        return False, None


def _same_number(stored: float, logged: Any) -> bool:
    expected = float(logged)
    return math.isnan(stored) if math.isnan(expected) else stored == expected


def _database_is_sound(tracking_uri: str) -> None:
    conn = sqlite3.connect(tracking_uri.removeprefix("sqlite:///"))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


@_SETTINGS
@given(
    params=st.dictionaries(_key, _text | _number, max_size=4),
    tags=st.dictionaries(_key, _text, max_size=4),
    metrics=st.lists(st.tuples(_key, _number, _step), max_size=4),
    batch=st.booleans(),
)
def test_logged_values_read_back_or_raise_typed(
    tracking_uri: str,
    params: dict[str, Any],
    tags: dict[str, str],
    metrics: list[tuple[str, Any, int | None]],
    batch: bool,
) -> None:
    with spanrun.start_run() as run:
        run_id = run.info.run_id
        logged_params: dict[str, str] = {}
        logged_tags: dict[str, str] = {}
        if batch:
            if _attempt(spanrun.log_params, params)[0]:
                logged_params.update({k: str(v) for k, v in params.items()})
            if _attempt(spanrun.set_tags, tags)[0]:
                logged_tags.update(tags)
        else:
            for key, value in params.items():
                if _attempt(spanrun.log_param, key, value)[0]:
                    logged_params[key] = str(value)
            for key, value in tags.items():
                if _attempt(spanrun.set_tag, key, value)[0]:
                    logged_tags[key] = value
        logged_metrics: list[tuple[str, Any, int]] = []
        for key, value, step in metrics:
            if _attempt(spanrun.log_metric, key, value, step=step)[0]:
                logged_metrics.append((key, value, step or 0))
        if metrics and batch:
            values = {key: value for key, value, _ in metrics}
            if _attempt(spanrun.log_metrics, values, step=7)[0]:
                logged_metrics += [(key, value, 7) for key, value in values.items()]

    data = spanrun.get_run(run_id).data
    assert {k: data.params[k] for k in logged_params} == logged_params
    assert {k: data.tags[k] for k in logged_tags} == logged_tags
    for key in {key for key, _, _ in logged_metrics}:
        history = spanrun.get_metric_history(run_id, key)
        wanted = [(value, step) for k, value, step in logged_metrics if k == key]
        assert len(history) == len(wanted)
        for metric, (value, step) in zip(
            sorted(history, key=lambda m: m.step), sorted(wanted, key=lambda w: w[1]), strict=True
        ):
            assert metric.step == step and _same_number(metric.value, value)
    _database_is_sound(tracking_uri)


@_SETTINGS
@given(
    names=st.lists(st.none() | _text, min_size=1, max_size=4),
    description=st.none() | _text,
    experiment=_text,
)
def test_runs_and_experiments_read_back_or_raise_typed(
    tracking_uri: str, names: list[str | None], description: str | None, experiment: str
) -> None:
    ok, experiment_id = _attempt(spanrun.create_experiment, experiment)
    if ok:
        assert experiment_id is not None
        assert spanrun.get_experiment(experiment_id).name == experiment
        assert spanrun.get_experiment_by_name(experiment).experiment_id == experiment_id
    started: list[tuple[str, str | None]] = []
    try:
        for depth, name in enumerate(names):  # each run nested in the previous one
            ok, run = _attempt(
                spanrun.start_run, run_name=name, nested=depth > 0, description=description
            )
            if not ok:
                break
            assert run is not None
            started.append((run.info.run_id, name))
    finally:
        while spanrun.active_run() is not None:
            spanrun.end_run()
    parent = None
    for run_id, name in started:
        run = spanrun.get_run(run_id)
        if name:
            assert run.info.run_name == name and run.data.tags["mlflow.runName"] == name
        assert run.data.tags.get("mlflow.parentRunId") == parent
        if description is not None:
            assert run.data.tags["mlflow.note.content"] == description
        parent = run_id
    _database_is_sound(tracking_uri)


@_SETTINGS
@given(text=_text, artifact_file=_text | st.just("notes.txt"))
def test_log_text_reads_back_or_raises_typed(
    tracking_uri: str, text: str, artifact_file: str
) -> None:
    with spanrun.start_run() as run:
        ok, _ = _attempt(spanrun.log_text, text, artifact_file)
    if ok:
        path = "/".join(
            p for p in artifact_file.replace("\\", "/").split("/") if p not in ("", ".")
        )
        assert spanrun.artifacts.load_text(f"{run.info.artifact_uri}/{path}") == text


# -- the filter grammar ------------------------------------------------------------------------
_prefix = st.sampled_from(["metrics", "params", "tags", "attributes", "attribute", "run", "x"])
_name = (
    st.sampled_from(["acc", "model", "status", "run_name", "start_time", "run_id", "m"])
    | _text.map(lambda t: f"`{t}`")
    | _text.map(lambda t: '"' + t + '"')
)
_op = st.sampled_from(
    ["=", "!=", "<", "<=", ">", ">=", "==", "<>", "LIKE", "ilike", "IN", "NOT IN"]
)
_literal = (
    _text.map(lambda t: "'" + t.replace("'", "''") + "'")
    | _number.filter(lambda n: not isinstance(n, bool)).map(repr)
    | st.lists(_text.map(lambda t: "'" + t.replace("'", "''") + "'"), max_size=3).map(
        lambda items: "(" + ", ".join(items) + ")"
    )
)
_clause = st.builds(lambda p, n, o, v: f"{p}.{n} {o} {v}", _prefix, _name, _op, _literal)
_filter = st.lists(_clause, min_size=1, max_size=5).map(" and ".join) | _text
_order_by = st.none() | st.lists(
    st.builds(
        lambda p, n, d: f"{p}.{n}{d}", _prefix, _name, st.sampled_from(["", " ASC", " desc", " x"])
    )
    | _text,
    max_size=3,
)


@pytest.fixture
def searchable(tracking_uri: str) -> str:
    """Runs with NaN, infinite and ordinary metrics, and odd params and tags to search over."""
    for i, value in enumerate([0.5, math.nan, math.inf, -math.inf, -1e308]):
        with spanrun.start_run(run_name=f"r{i}"):
            spanrun.log_metric("acc", value)
            spanrun.log_params({"model": f"m'{i}%_\\", "odd key: 1": "é\u2028"})
            spanrun.set_tag("team", "nlp" if i % 2 else "NLP")
    return tracking_uri


@_SETTINGS
@given(filter_string=_filter, order_by=_order_by, experiments=st.booleans())
def test_any_filter_gives_results_or_an_invalid_filter_error(
    searchable: str, filter_string: str, order_by: list[str] | None, experiments: bool
) -> None:
    try:
        if experiments:
            spanrun.search_experiments(filter_string=filter_string, order_by=order_by)
        else:
            found = spanrun.search_runs(
                filter_string=filter_string, order_by=order_by, output_format="list"
            )
            assert len(found) <= 5
    except InvalidFilterError:
        pass
    _database_is_sound(searchable)
