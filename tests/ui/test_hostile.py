"""Hostile content: names, params, tags, descriptions, prompts, outputs, artifact names and file
contents holding markup and script URLs, logged through the API and through autolog, show as
text on every page and never run (``window.__xss``, which each payload would set, stays unset)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from tests.ui._seed import HOSTILE, HOSTILE_NAME

OUR_SCRIPTS = ("/ui-static/ui.js", "/ui-static/vendor/uplot-1.6.32/uPlot.iife.min.js")


def _assert_inert(page: Any, path: str, texts: list[str]) -> None:
    response = page.goto(path)
    assert response.status == 200, path
    page.wait_for_timeout(50)  # let any onerror/onload handler fire, were there one
    assert page.evaluate("typeof window.__xss") == "undefined", path
    found = page.evaluate(
        """() => ({
            scripts: Array.from(document.scripts)
                .filter(s => s.type !== 'application/json')
                .map(s => new URL(s.src || 'inline:', location.href).pathname),
            images: document.querySelectorAll('img[src=x], img[onerror]').length,
            svgs: document.querySelectorAll('svg, [onload], [onerror]').length,
            jsLinks: Array.from(document.querySelectorAll('a[href]'))
                .filter(a => a.protocol === 'javascript:').length,
        })"""
    )
    assert sorted(found["scripts"]) == sorted(OUR_SCRIPTS), path
    assert found["images"] == 0 and found["svgs"] == 0 and found["jsLinks"] == 0, (path, found)
    body = page.inner_text("body")
    for text in texts:
        assert text in body, (path, text)
    assert page.problems.all() == [], path


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_hostile_names_params_tags_and_descriptions(page: Any, seeded: dict[str, Any]) -> None:
    experiment = seeded["hostile_experiment"]
    _assert_inert(page, "/", [HOSTILE_NAME])
    columns = urlencode([("cols", "1"), ("col", "param:p"), ("col", "tag:t")])
    _assert_inert(page, f"/experiments/{experiment}?{columns}", [HOSTILE_NAME, *HOSTILE])
    for run_id, payload in zip(seeded["hostile_runs"], HOSTILE, strict=True):
        _assert_inert(page, f"/runs/{run_id}", [payload])
        assert page.inner_text("#run-name").startswith(payload)
        assert page.inner_text("#description") == payload
    # The chart's legend holds the run's name too, drawn by the script.
    page.wait_for_selector("figure.chart .chart-body[data-drawn='1']")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert HOSTILE[-1] in page.inner_text("figure.chart .u-legend")


def test_hostile_artifacts(page: Any, seeded: dict[str, Any]) -> None:
    runs = seeded["hostile_runs"]
    for run_id, payload in zip(runs, HOSTILE, strict=True):
        # The file named after the payload: in the run's list, the preview's title and body.
        name = payload.replace("/", "_") + ".txt"
        _assert_inert(page, f"/runs/{run_id}/artifact?path={quote(name)}", [name, payload])
    _assert_inert(page, f"/runs/{runs[1]}", [HOSTILE[1].replace("/", "_") + ".txt"])
    for index in (1, 4):  # an event handler, and a payload that closes a script element
        for path in ("notes.txt", "table.csv", "table.json", "page.html"):
            _assert_inert(page, f"/runs/{runs[index]}/artifact?path={path}", [HOSTILE[index]])


def test_hostile_downloads_are_attachments(ui_url: str, seeded: dict[str, Any]) -> None:
    run_id = seeded["hostile_runs"][0]
    for path in ("page.html", "notes.txt"):
        response = httpx.get(f"{ui_url}/runs/{run_id}/artifact-file", params={"path": path})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.headers["content-security-policy"].startswith("sandbox")
        assert response.headers["x-content-type-options"] == "nosniff"


def test_hostile_compare_predictions_and_traces(page: Any, seeded: dict[str, Any]) -> None:
    runs = "&".join(f"run={r}" for r in seeded["hostile_runs"])
    _assert_inert(page, f"/compare?{runs}", HOSTILE)
    _assert_inert(page, f"/predictions?{runs}", HOSTILE)  # autologged prompts and outputs
    _assert_inert(page, f"/predictions?{runs}&q={quote(HOSTILE[1])}", [HOSTILE[1]])
    _assert_inert(page, f"/traces?experiment_id={seeded['hostile_experiment']}", [])
    _assert_inert(page, f"/traces/{seeded['hostile_trace']}", [HOSTILE[0]])
    user = page.locator("#span-detail .message.role-user").inner_text()
    assert HOSTILE[0] in user
    assert HOSTILE[0] in page.locator("#span-detail .message.role-assistant").inner_text()
