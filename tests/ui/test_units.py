"""The UI's pure parts: down-sampling, nesting, diffs, prediction grouping, script-safe JSON,
order clauses, and the error pages of a real server for bad requests."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import httpx
import pytest

from spanrun.core.entities import Metric, Run, RunData, RunInfo
from spanrun.store._downsample import downsample
from spanrun.ui._compare_pages import PredictionTable, diff_rows, diff_table, group_predictions
from spanrun.ui._queries import order_clause, quoted_key
from spanrun.ui._render import script_json
from spanrun.ui._runs_pages import group_nested


def test_downsample_keeps_extremes_in_order_and_bounds_the_count() -> None:
    history = [Metric("m", math.sin(i / 50), i, i) for i in range(100_000)]
    history[77_777] = Metric("m", 50.0, 77_777, 77_777)
    history[12_345] = Metric("m", -50.0, 12_345, 12_345)
    history[500] = Metric("m", float("nan"), 500, 500)
    shown = downsample(history, 1000)
    assert len(shown) <= 1000
    steps = [m.step for m in shown]
    assert steps == sorted(steps)
    values = [m.value for m in shown]
    assert 50.0 in values and -50.0 in values
    assert downsample(history[:10], 1000) == history[:10]


def test_script_json_cannot_close_the_script_element() -> None:
    payload = {"a": "</script><script>alert(1)</script>", "b": "<!--", "c": "&amp;\u2028"}
    text = str(script_json(payload))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == payload


def test_order_clause_quotes_keys_the_grammar_reads_back() -> None:
    assert order_clause("attr:start_time", False) == "attributes.start_time DESC"
    assert order_clause("metric:llm.total_tokens", True) == "metrics.`llm.total_tokens` ASC"
    assert quoted_key('we`ird"key') == '"we`ird""key"'


def _run(run_id: str, parent: str | None = None) -> Run:
    tags = {"mlflow.parentRunId": parent} if parent else {}
    return Run(RunInfo(run_id, "0", run_id, "FINISHED", 0, 0, ""), RunData(tags=tags))


def test_group_nested_puts_children_under_parents_on_the_page() -> None:
    runs = [_run("c1", "p"), _run("x"), _run("p"), _run("g", "c1"), _run("o", "elsewhere")]
    rows = group_nested(runs)
    assert [(r.run.info.run_id, r.depth) for r in rows] == [
        ("x", 0),
        ("p", 0),
        ("c1", 1),
        ("g", 2),
        ("o", 0),
    ]
    assert rows[-1].parent_id == "elsewhere" and not rows[-1].parent_on_page
    cycle = group_nested([_run("a", "b"), _run("b", "a")])  # hand-written tags
    assert sorted(r.run.info.run_id for r in cycle) == ["a", "b"]


def test_diff_rows_marks_keys_whose_values_differ() -> None:
    rows = diff_rows([{"lr": "0.1", "m": "x"}, {"lr": "0.2", "m": "x"}, {"m": "x"}])
    by_key = {r.key: r for r in rows}
    assert by_key["lr"].differs and by_key["lr"].values == ["0.1", "0.2", None]
    assert not by_key["m"].differs


def test_diff_table_sends_cell_texts_column_wise() -> None:
    rows = diff_rows([{"a": 0.5, "b": math.inf}, {"a": 2.0, "b": math.nan}, {"b": -math.inf}])
    table = diff_table(rows)
    assert table == {
        "keys": ["a", "b"],
        "differs": [True, True],
        "cells": [["0.5", "2", None], ["inf", "NaN", "-inf"]],
    }
    assert json.loads(str(script_json(table))) == table  # no NaN or Infinity in the JSON


def test_group_predictions_by_input_with_filter() -> None:
    a = PredictionTable(["inputs", "outputs"], [{"inputs": "q1", "outputs": "x"}])
    b = PredictionTable(
        ["inputs", "outputs"],
        [{"inputs": "q1", "outputs": "y"}, {"inputs": "q2", "outputs": "z"}],
    )
    groups = group_predictions([a, b], "inputs", "outputs", None)
    assert [(g.key, g.differs) for g in groups] == [("q1", True), ("q2", True)]
    assert groups[1].cells == [[], [{"inputs": "q2", "outputs": "z"}]]
    only = group_predictions([a, b], "inputs", "outputs", re.compile("z"))
    assert [g.key for g in only] == ["q2"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/experiments/does-not-exist", 404),
        ("/runs/0123456789abcdef0123456789abcdef", 404),
        ("/traces/0123456789abcdef0123456789abcdef", 404),
        ("/compare?run=only-one", 400),
        ("/predictions", 400),
        ("/traces", 400),
        ("/traces?experiment_id=1&status=WEIRD", 400),
        ("/experiments/1?n=abc", 400),
        ("/experiments/1?sort=attr:password", 400),
        ("/ui-api/metric-history?key=m", 400),
        ("/ui-api/metric-history?run=r&" + "&".join(f"key=k{i}" for i in range(51)), 400),
        ("/ui-api/metric-history?run=0123456789abcdef0123456789abcdef&key=m", 404),
        ("/ui-api/run-count", 400),
        ("/runs/x/artifact", 404),
    ],
)
def test_bad_requests_get_an_error_page_not_a_500(
    ui_url: str, seeded: dict[str, Any], path: str, status: int
) -> None:
    response = httpx.get(ui_url + path)
    assert response.status_code == status, response.text[:300]
    assert "Traceback" not in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_a_backtracking_regex_is_stopped_within_its_budget() -> None:
    from spanrun.errors import InvalidInputError
    from spanrun.ui._text_filter import BoundedPattern, PatternTimeoutError

    hostile = BoundedPattern(r"(x+x+)+y", is_regex=True, budget_s=0.3)
    table = PredictionTable(["inputs", "outputs"], [{"inputs": "q", "outputs": "x" * 5000}])
    started = time.monotonic()
    with pytest.raises(PatternTimeoutError):
        group_predictions([table], "inputs", "outputs", hostile)
    assert time.monotonic() - started < 2.0
    assert BoundedPattern("A.B", is_regex=False).search("xa.bx")  # a substring, any case
    assert not BoundedPattern("A.B", is_regex=False).search("axb")
    with pytest.raises(InvalidInputError, match="Invalid regular expression"):
        BoundedPattern("(", is_regex=True)
