"""A server with a token serves its UI to browsers too: a page load (which cannot send an
Authorization header) goes to /login, whose form sets the token as an HttpOnly SameSite=Strict
cookie; the cookie then opens the UI and the API; a wrong token opens nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.server.conftest import start_server

HTML = {"accept": "text/html"}


def test_browser_login_with_the_token(tmp_path: Path) -> None:
    server = start_server(tmp_path, f"sqlite:///{tmp_path / 'login.db'}", token="t0ken")
    try:
        with httpx.Client(base_url=server.base_url) as browser:
            first = browser.get("/", headers=HTML)
            assert first.status_code == 303 and first.headers["location"] == "/login"
            assert browser.get("/api/2.0/mlflow/experiments/get?experiment_id=0").status_code == 401
            form = browser.get("/login", headers=HTML)
            assert form.status_code == 200 and 'name="token"' in form.text
            wrong = browser.post("/login", data={"token": "nope"})
            assert wrong.status_code == 401 and "spanrun_token" not in wrong.cookies
            right = browser.post("/login", data={"token": "t0ken"})
            assert right.status_code == 303 and right.headers["location"] == "/"
            cookie = right.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie
            page = browser.get("/", headers=HTML)
            assert page.status_code == 200 and "<html" in page.text.lower()
            api = browser.get("/api/2.0/mlflow/experiments/get?experiment_id=0")
            assert api.status_code == 200
        # Another client without the cookie is still refused.
        assert httpx.get(f"{server.base_url}/", headers=HTML).status_code == 303
    finally:
        server.stop()
