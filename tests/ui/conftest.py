"""UI test fixtures: one seeded store and one UI server per session, headless Chromium (Debian's
package, installed by ``scripts/ui_browser.sh``) driven by Playwright, and a page per test that
records console errors, page errors and failed requests, with a screenshot kept on failure
(in ``$SPANRUN_UI_SCREENSHOTS``, else ``ui-screenshots`` under pytest's temporary folder)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from spanrun.testing.postgres import PostgresNotAvailableError, postgres_server
from tests.ui._server import serve

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    script = REPO / "scripts" / "ui_browser.sh"
    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=600, check=False
    )
    path = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or not path:
        pytest.skip(f"no Chromium for the UI tests (scripts/ui_browser.sh): {result.stderr[-500:]}")
    return path


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """The database under the UI: SQLite unless a test parametrizes it (``indirect=True``)."""
    return str(getattr(request, "param", "sqlite"))


def _seed(uri: str, folder: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    for name in ("SPANRUN_TRACKING_URI", "SPANRUN_EXPERIMENT_ID", "SPANRUN_RUN_ID"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_seed.py")), uri],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=folder,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ids: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    ids["uri"] = uri
    return ids


@pytest.fixture(scope="session")
def seeded(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The ids of what ``_seed.py`` logged into a fresh store on ``backend`` (``uri`` added):
    a SQLite file, or a database of the session's PostgreSQL server."""
    folder = tmp_path_factory.mktemp(f"ui-store-{backend}")
    if backend == "sqlite":
        yield _seed(f"sqlite:///{folder / 'ui.db'}", folder)
        return
    try:
        with postgres_server("ui") as uri:
            yield _seed(uri, folder)
    except PostgresNotAvailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def ui_url(seeded: dict[str, Any]) -> Iterator[str]:
    with serve(seeded["uri"]) as url:
        yield url


# Package scope, not session: Playwright's sync API keeps an event loop running on the main
# thread while it lives, which would break asyncio tests collected after tests/ui.
@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    playwright_sync = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed (the dev extra)"
    )
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@dataclass
class Problems:
    """What went wrong in the browser while a test ran."""

    console: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [*self.console, *self.failed, *self.statuses]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(
    browser: Any, ui_url: str, request: pytest.FixtureRequest, tmp_path_factory: Any
) -> Iterator[Any]:
    """A fresh browser page; ``page.problems`` holds console errors and failed requests."""
    context = browser.new_context(base_url=ui_url, viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(5_000)
    problems = Problems()

    def on_console(message: Any) -> None:
        if message.type in ("error", "warning") and "DevTools" not in message.text:
            problems.console.append(f"{message.type}: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: problems.console.append(f"pageerror: {error}"))
    # A request cut short by the next navigation (or a download) is aborted, not failed.
    tab.on(
        "requestfailed",
        lambda r: (
            None
            if r.failure == "net::ERR_ABORTED"
            else problems.failed.append(f"{r.url}: {r.failure}")
        ),
    )
    tab.on(
        "response",
        lambda r: problems.statuses.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    tab.problems = problems
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = Path(
            os.environ.get("SPANRUN_UI_SCREENSHOTS")
            or tmp_path_factory.getbasetemp() / "ui-screenshots"
        )
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-150:]
        shot = folder / f"{name}.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed test: {shot}")
    context.close()
