"""The UI in headless Chromium: every page loads cleanly, and filter, sort, paging, column
choice, compare, predictions side by side, charts and the trace view work."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest


def _pages(ids: dict[str, Any]) -> dict[str, str]:
    art = ids["artifacts_run"]
    a, b = ids["prediction_runs"]
    return {
        "experiments": "/",
        "experiments-search": "/?q=ui-",
        "runs": f"/experiments/{ids['runs_experiment']}",
        "runs-autolog": f"/experiments/{ids['autolog_experiment']}",
        "run": f"/runs/{art}",
        "run-parent": f"/runs/{ids['parent']}",
        "run-autolog": f"/runs/{a}",
        "artifact-csv": f"/runs/{art}/artifact?path=tables/data.csv",
        "artifact-image": f"/runs/{art}/artifact?path=images/red.png",
        "artifact-big": f"/runs/{art}/artifact?path=big.log",
        "compare": f"/compare?run={a}&run={b}",
        "predictions": f"/predictions?run={a}&run={b}",
        "traces-experiment": f"/traces?experiment_id={ids['autolog_experiment']}",
        "traces-run": f"/traces?run_id={a}",
        "trace": f"/traces/{ids['trace']}",
    }


PAGE_NAMES = [
    "experiments",
    "experiments-search",
    "runs",
    "runs-autolog",
    "run",
    "run-parent",
    "run-autolog",
    "artifact-csv",
    "artifact-image",
    "artifact-big",
    "compare",
    "predictions",
    "traces-experiment",
    "traces-run",
    "trace",
]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_loads_without_errors(page: Any, seeded: dict[str, Any], name: str) -> None:
    response = page.goto(_pages(seeded)[name])
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").count() == 1
    assert page.problems.all() == []


def test_experiments_list_counts_runs_and_searches(page: Any) -> None:
    page.goto("/")
    rows = page.locator("#experiments tbody tr")
    names = rows.locator(".experiment-link").all_inner_texts()
    assert "ui-runs" in names and "ui-autolog" in names
    row = rows.filter(has=page.get_by_role("link", name="ui-runs", exact=True))
    page.wait_for_selector(".run-count[data-done='1'] >> nth=-1")
    assert row.locator(".run-count").inner_text() == "64"
    assert row.locator(".last-activity").inner_text().startswith("20")
    page.fill("input[name=q]", "autolog")
    page.click("form.bar button")
    assert page.locator("#experiments .experiment-link").all_inner_texts() == ["ui-autolog"]


def _names(page: Any) -> list[str]:
    return page.locator("#runs tbody .run-link").all_inner_texts()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_filter_box_applies_the_search_grammar(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/experiments/{seeded['runs_experiment']}")
    page.fill("#filter", "params.model = 'm1' AND metrics.accuracy >= 0.5")
    page.press("#filter", "Enter")
    page.wait_for_url(re.compile("filter="))
    names = _names(page)
    assert names == ["run-58", "run-55", "run-52"]
    page.wait_for_selector("#run-total .run-count[data-done='1']")
    assert page.locator("#run-total").inner_text() == "3 matching runs"


def test_bad_filter_shows_the_parser_message(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/experiments/{seeded['runs_experiment']}")
    page.fill("#filter", "metrics.accuracy >>> 1")
    page.press("#filter", "Enter")
    error = page.locator("#filter-error")
    assert error.is_visible()
    assert "accuracy" in error.inner_text() or "Invalid" in error.inner_text()
    assert page.input_value("#filter") == "metrics.accuracy >>> 1"
    assert page.problems.all() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_sort_by_clicking_a_column(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/experiments/{seeded['runs_experiment']}?n=100")
    page.click("#runs thead a[data-column='metric:accuracy']")
    page.wait_for_url(re.compile("sort=metric"))
    values = _column_values(page, "accuracy")
    assert values == sorted(values, reverse=True) and values[0] == 0.59
    page.click("#runs thead a[data-column='metric:accuracy']")
    page.wait_for_url(re.compile("dir=asc"))
    values = _column_values(page, "accuracy")
    assert values == sorted(values) and values[0] == 0.0


def _column_values(page: Any, metric: str) -> list[float]:
    index = page.eval_on_selector(
        f"#runs thead a[data-column='metric:{metric}']", "a => a.closest('th').cellIndex"
    )
    # Children stay under their parent: the order is that of the top-level rows.
    cells = page.locator(f"#runs tbody tr.depth-0 td:nth-child({index + 1})").all_inner_texts()
    return [float(c) for c in cells if c.strip() not in ("\u2013", "")]  # an en dash: none


def test_paging_forward_and_back(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/experiments/{seeded['runs_experiment']}?n=25&sort=attr:run_name&dir=asc")
    first = _names(page)
    assert len(first) == 25 and first[0] == "artifacts-run"
    page.click("#next-page")
    second = _names(page)
    assert len(second) == 25 and not set(first) & set(second)
    page.click("#next-page")
    third = _names(page)
    assert len(third) == 14 and page.locator("#next-page").count() == 0
    assert len(set(first) | set(second) | set(third)) == 64
    page.click("#prev-page")
    assert _names(page) == second
    page.click("#prev-page")
    assert _names(page) == first
    assert page.locator("#prev-page").count() == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_column_chooser_adds_and_removes_columns(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/experiments/{seeded['runs_experiment']}")
    page.click("#column-chooser summary")
    page.fill(".chooser-search", "tea")
    assert page.locator(".chooser-item:visible").count() == 1
    page.check("input[name=col][value='tag:team']")
    page.fill(".chooser-search", "")
    page.uncheck("input[name=col][value='param:batch']")
    page.click(".chooser-body button")
    headers = " ".join(page.locator("#runs thead th").all_inner_texts())
    assert "team" in headers and "batch" not in headers
    assert {"blue", "green"} <= set(page.locator("#runs tbody td.text").all_inner_texts())


def test_nested_runs_follow_their_parent(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/experiments/{seeded['runs_experiment']}")
    rows = page.locator("#runs tbody tr")
    ids = rows.evaluate_all("rs => rs.map(r => [r.dataset.runId, r.className])")
    position = next(i for i, (rid, _) in enumerate(ids) if rid == seeded["parent"])
    assert "depth-1" in ids[position + 1][1] and "depth-1" in ids[position + 2][1]
    assert seeded["child"] in {ids[position + 1][0], ids[position + 2][0]}


def _chart_has_pixels(page: Any, selector: str) -> bool:
    return bool(
        page.eval_on_selector(
            selector,
            """canvas => {
                const context = canvas.getContext('2d');
                const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
                let painted = 0;
                for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
                return painted > 200;
            }""",
        )
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_run_page_draws_a_downsampled_metric_chart(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/runs/{seeded['artifacts_run']}")
    body = page.locator("figure.chart[data-key=value] .chart-body")
    page.wait_for_selector("figure.chart[data-key=value] .chart-body[data-drawn='1'] canvas")
    assert _chart_has_pixels(page, "figure.chart[data-key=value] canvas")
    assert "of 20000 points" in body.inner_text()
    history = httpx.get(
        f"{page.context.pages[0].url.split('/runs/')[0]}/ui-api/metric-history",
        params={"run": seeded["artifacts_run"], "key": "value", "points": 500},
    ).json()["charts"][0]["series"][0]
    assert len(history["value"]) <= 500 and history["total"] == 20_000
    assert max(v for v in history["value"] if v is not None) > 5  # the spike survives
    both = httpx.get(
        f"{page.context.pages[0].url.split('/runs/')[0]}/ui-api/metric-history",
        params={"run": seeded["artifacts_run"], "key": ["absent", "value"], "points": 500},
    ).json()["charts"]
    assert [(c["key"], len(c["series"])) for c in both] == [("absent", 0), ("value", 1)]
    assert both[1]["series"][0] == history  # several charts, one request
    page.select_option("select.x-axis", "time")
    assert _chart_has_pixels(page, "figure.chart[data-key=value] canvas")
    assert page.problems.all() == []


def test_run_page_shows_family_and_artifacts(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/runs/{seeded['parent']}")
    assert set(page.locator("#children .run-link").all_inner_texts()) == {"child-0", "child-1"}
    page.goto(f"/runs/{seeded['child']}")
    assert "parent-run" in page.locator("dl.facts").inner_text()
    page.goto(f"/runs/{seeded['artifacts_run']}")
    files = page.locator("#artifacts .artifact-link").all_inner_texts()
    assert {"tables/data.csv", "images/red.png", "eval_table.json", "big.log"} <= set(files)


def test_artifact_previews(page: Any, seeded: dict[str, Any]) -> None:
    run = seeded["artifacts_run"]

    def table(path: str) -> list[list[str]]:
        page.goto(f"/runs/{run}/artifact?path={quote(path)}")
        head = page.locator("#preview-table thead th").all_inner_texts()
        rows = page.locator("#preview-table tbody tr").evaluate_all(
            "rs => rs.map(r => Array.from(r.cells, c => c.textContent))"
        )
        return [head, *rows]

    assert table("tables/data.csv") == [["a", "b"], ["1", "2"], ["3", "4"]]
    assert table("tables/data.tsv") == [["x", "y"], ["5", "6"]]
    assert table("eval_table.json") == [["question", "answer"], ["q1", "a1"], ["q2", "a2"]]
    page.goto(f"/runs/{run}/artifact?path=config.json")
    assert '"nested"' in page.locator("#preview-text").inner_text()
    page.goto(f"/runs/{run}/artifact?path=config.yaml")
    assert "key: value" in page.locator("#preview-text").inner_text()
    page.goto(f"/runs/{run}/artifact?path=images/red.png")
    page.wait_for_function("document.querySelector('#preview-image').complete")
    assert page.eval_on_selector("#preview-image", "img => img.naturalWidth") == 40
    page.goto(f"/runs/{run}/artifact?path=big.log")
    assert page.locator("#truncated").is_visible()
    assert len(page.locator("#preview-text").inner_text()) <= 256 * 1024
    with page.expect_download() as download:
        page.click("#download-link")
    assert download.value.suggested_filename == "big.log"
    assert page.problems.all() == []


@pytest.mark.parametrize(
    "path",
    ["../../../etc/passwd", "/etc/passwd", "..\\..\\x", "a/../../b", "%2e%2e/x", "C:/x"],
)
def test_artifact_paths_outside_the_run_are_refused(
    ui_url: str, seeded: dict[str, Any], path: str
) -> None:
    run = seeded["artifacts_run"]
    for route in ("artifact", "artifact-file"):
        response = httpx.get(f"{ui_url}/runs/{run}/{route}", params={"path": path})
        assert response.status_code in (400, 404), (route, path, response.status_code)
        assert "root:x:0:0" not in response.text


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_compare_highlights_differences_and_draws(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/experiments/{seeded['autolog_experiment']}")
    for run_id in seeded["prediction_runs"]:
        page.check(f"#runs tr[data-run-id='{run_id}'] input[name=run]")
    histories: list[str] = []
    page.on(
        "request",
        lambda r: histories.append(r.url) if "/ui-api/metric-history" in r.url else None,
    )
    page.click("#compare-button")
    page.wait_for_url(re.compile("/compare"))
    model = page.locator("#param-diff tr", has_text="llm.model")
    assert "differs" in model.get_attribute("class")
    assert sorted(model.locator("td").all_inner_texts()) == ["gpt-4o", "gpt-4o-mini"]
    provider = page.locator("#param-diff tr", has_text="llm.provider")
    assert "same" in provider.get_attribute("class")
    page.check("#only-diff")
    assert not provider.is_visible() and model.is_visible()
    page.wait_for_selector("#charts .chart-body[data-drawn='1'] canvas")
    assert _chart_has_pixels(page, "#charts .chart-body[data-drawn='1'] canvas")
    legend = page.locator("#charts figure").first.locator(".u-legend").inner_text()
    assert "auto-a" in legend and "auto-b" in legend
    charts = page.locator("#charts figure").count()
    assert charts == min(4, page.locator("#metric-diff tbody tr").count())
    # A request per chart (all the runs in each), each drawn as it comes.
    assert len(histories) == charts and all(url.count("key=") == 1 for url in histories)
    assert sorted(page.locator("#param-diff thead .run-link").all_inner_texts()) == [
        "auto-a",
        "auto-b",
    ]
    page.locator("#parallel").scroll_into_view_if_needed()  # drawn when seen
    page.wait_for_selector("#parallel[data-drawn='1']")
    assert _chart_has_pixels(page, "#parallel")
    assert page.locator("#pc-legend li").count() == 2
    page.select_option("#scatter-x", "metric:llm.cumulative_output_tokens")
    page.select_option("#scatter-y", "metric:llm.latency_ms")
    assert page.get_attribute("#scatter", "data-drawn") == "1"
    assert _chart_has_pixels(page, "#scatter")
    page.select_option("#scatter-y", "param:llm.model")  # not numeric: nothing to plot
    assert page.get_attribute("#scatter", "data-drawn") == "0"
    assert page.problems.all() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_predictions_side_by_side(page: Any, seeded: dict[str, Any]) -> None:
    a, b = seeded["prediction_runs"]
    page.goto(f"/experiments/{seeded['autolog_experiment']}")
    for run_id in (a, b):
        page.check(f"#runs tr[data-run-id='{run_id}'] input[name=run]")
    page.click("#predictions-button")
    page.wait_for_url(re.compile("/predictions"))
    rows = page.locator("#predictions tbody tr")
    inputs = rows.locator("th.input").all_inner_texts()
    assert inputs == ["What is 2+2?", "Name a colour", "Say hi", "fail please"]
    hi = rows.filter(has_text="Say hi")
    assert "differs" in hi.get_attribute("class")
    outputs = hi.locator("td .answer .clamp").all_inner_texts()
    assert sorted(outputs) == ["Echo: Say hi", "Hello there, a different answer"]
    assert "latency_ms" in hi.inner_text() and "total_tokens" in hi.inner_text()
    same = rows.filter(has_text="Name a colour")
    assert "same" in same.get_attribute("class")
    assert "error" in rows.filter(has_text="fail please").inner_text()
    page.fill("#prediction-query", "colour")
    page.press("#prediction-query", "Enter")
    assert page.locator("#predictions tbody th.input").all_inner_texts() == ["Name a colour"]
    page.goto(f"/predictions?run={a}&run={b}&diff=1")
    assert page.locator("#predictions tbody th.input").all_inner_texts() == ["Say hi"]
    page.goto(f"/predictions?run={a}&run={b}&q=%5E(What%7CSay)&regex=1")
    assert page.locator("#predictions tbody th.input").all_inner_texts() == [
        "What is 2+2?",
        "Say hi",
    ]
    assert page.problems.all() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_trace_list_filters_and_trace_view(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/traces?experiment_id={seeded['autolog_experiment']}")
    assert page.locator("#traces tbody tr").count() == 8
    page.select_option("select[name=status]", "ERROR")
    page.click("#trace-filter button")
    rows = page.locator("#traces tbody tr")
    assert rows.count() == 2 and set(rows.locator(".status").all_inner_texts()) == {"ERROR"}
    rows.first.locator(".trace-link").click()
    page.wait_for_selector("#span-tree[data-ready='1']")
    assert page.locator(".span-row").count() == 1
    detail = page.locator("#span-detail")
    assert "Error:" in detail.inner_text()
    assert "exception" in detail.locator(".event-exception").inner_text()
    roles = detail.locator(".message .role").all_inner_texts()
    assert [r.lower() for r in roles] == ["system", "user"]
    assert "fail please" in detail.locator(".message.role-user").inner_text()
    bar = page.locator(".span-bar").first.bounding_box()
    assert bar is not None and bar["width"] > 10
    assert page.problems.all() == []


def test_trace_view_shows_the_answer_as_a_conversation(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/traces?run_id={seeded['prediction_runs'][1]}&status=OK&name=chat")
    page.locator("#traces .trace-link").first.click()
    page.wait_for_selector("#span-tree[data-ready='1']")
    messages = page.locator("#span-detail .message")
    roles = [r.lower() for r in messages.locator(".role").all_inner_texts()]
    assert roles == ["system", "user", "assistant"]
    attributes = page.locator("#span-detail table.kv").first.inner_text()
    assert "gen_ai.usage.input_tokens" in attributes


def test_a_large_trace_opens_with_its_top_level_and_loads_children_lazily(
    page: Any, seeded: dict[str, Any]
) -> None:
    page.goto(f"/traces/{seeded['big_trace']}")
    page.wait_for_selector("#span-tree[data-ready='1']")
    assert page.locator(".span-row").count() == 1  # 331 spans: children are built on demand
    page.locator(".span-row .toggle").first.click()
    assert page.locator(".span-row").count() == 31
    child = page.locator(".span-row[data-span-id='0000000000000009']")  # "child 7"
    child.locator(".toggle").click()
    assert page.locator(".span-row").count() == 41
    assert page.locator(".span-row", has_text="grandchild 7.9").is_visible()
    page.locator(".span-row", has_text="grandchild 7.3").click()
    assert page.locator("#span-detail .detail-name").inner_text() == "grandchild 7.3"
    page.locator(".span-row .toggle").first.click()
    assert not child.is_visible()
    assert page.problems.all() == []


def test_a_running_runs_page_refreshes_itself(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(f"/runs/{seeded['running_run']}")
    assert page.get_attribute("body", "data-refresh") == "5"
    assert page.inner_text("#run-name .status") == "RUNNING"
    with page.expect_navigation(timeout=8000):  # the page reloads itself
        pass
    page.goto(f"/runs/{seeded['artifacts_run']}")
    assert page.get_attribute("body", "data-refresh") is None


def test_create_rename_and_delete_an_experiment(page: Any) -> None:
    page.goto("/")
    page.fill("#create-experiment input[name=name]", "made in the UI")
    page.click("#create-experiment button")
    page.wait_for_url(re.compile(r"/experiments/\w+$"))
    assert page.inner_text("h1") == "made in the UI"
    page.click("#manage-experiment summary")
    page.fill("#rename-experiment input[name=name]", "renamed in the UI")
    page.click("#rename-experiment button")
    assert page.inner_text("h1") == "renamed in the UI"
    page.click("#manage-experiment summary")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-experiment button")
    page.wait_for_url(re.compile(r"/$"))
    names = page.locator("#experiments .experiment-link").all_inner_texts()
    assert "renamed in the UI" not in names and "ui-runs" in names
    page.fill("#create-experiment input[name=name]", "ui-runs")  # taken: a clear error
    page.click("#create-experiment button")
    assert "ui-runs" in page.inner_text("#error-message")
    # The 409 was the point (its status and Chrome's console line for it); nothing else.
    assert [p for p in page.problems.all() if "409" not in p] == []


@pytest.mark.parametrize("origin", [None, "http://evil.example", "null"])
def test_experiment_forms_refuse_other_origins(ui_url: str, origin: str | None) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["origin"] = origin
    response = httpx.post(f"{ui_url}/ui-forms/experiments", content="name=csrf", headers=headers)
    assert response.status_code == 403
    listing = httpx.get(ui_url + "/").text
    assert ">csrf<" not in listing
