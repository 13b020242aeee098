"""Hypothesis over every route of a real server: random JSON (with MLflow's field names and
values of every type), garbage bodies, random query strings and paths. Never a 500, never a
stack trace; every refusal is MLflow's error body."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from spanrun.server import create_app
from spanrun.store import clear_store_cache
from tests.server.conftest import ServerProcess

FIELDS = [
    "run_id",
    "run_uuid",
    "experiment_id",
    "experiment_ids",
    "run_ids",
    "name",
    "new_name",
    "experiment_name",
    "key",
    "value",
    "timestamp",
    "step",
    "metrics",
    "params",
    "tags",
    "filter",
    "order_by",
    "max_results",
    "page_token",
    "view_type",
    "run_view_type",
    "status",
    "end_time",
    "start_time",
    "run_name",
    "artifact_location",
    "metric_key",
    "start_step",
    "end_step",
    "path",
    "spans",
    "runs",
    "trace_id",
    "datasets",
    "user_id",
]


def _routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, read from an app on a throw-away store."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        app = create_app(f"sqlite:///{tmp / 'routes.db'}", str(tmp / "routes-artifacts"))
        found = [
            (method, route.path)
            for route in app.routes
            if isinstance(route, Route)
            for method in sorted(route.methods or ())
            if method != "HEAD"
        ]
        clear_store_cache()
    return found


ROUTES = _routes()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        ["0", "1", "NaN", "Infinity", "ALL", "ACTIVE_ONLY", "FINISHED", "../x", "a\x00b", "\ud800"]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from([*FIELDS, "x"]), inner, max_size=4),
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6).map(
        lambda d: json.dumps(d).encode()
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)
queries = st.dictionaries(
    st.sampled_from(FIELDS),
    st.one_of(st.text(max_size=20), st.sampled_from(["0", "-1", "%2e%2e", "a\x00b", "x%00"])),
)
paths = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["0/x.txt", "..", "%2e%2e/x", "a/../../b", "/etc/passwd", "0", ""]),
)


@pytest.fixture(scope="module")
def fuzz_run(server: ServerProcess) -> str:
    run = server.ok("POST", "runs/create", json={"experiment_id": "0"})["run"]
    return str(run["info"]["run_id"])  # type: ignore[index]


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    body=bodies,
    query=queries,
    path=paths,
    use_run=st.booleans(),
    content_type=st.sampled_from(["application/json", "application/json", "text/plain", ""]),
)
def test_no_route_answers_500(
    server: ServerProcess,
    fuzz_run: str,
    route: tuple[str, str],
    body: bytes,
    query: dict[str, str],
    path: str,
    use_run: bool,
    content_type: str,
) -> None:
    method, template = route
    url = template.replace("{path:path}", path.replace("?", "%3F").replace("#", "%23"))
    if use_run:
        query = {**query, "run_id": fuzz_run}
        if body.startswith(b"{") and body != b"{}":
            body = b'{"run_id": "' + fuzz_run.encode() + b'", ' + body[1:]
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        response = server.http.request(
            method,
            url,
            params=query,
            content=body if method != "GET" else None,
            headers=headers,
        )
    except httpx.InvalidURL:
        return  # the client itself refuses to send it
    assert response.status_code < 500, (method, url, query, body, response.text)
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        payload: dict[str, Any] = response.json()
        assert set(payload) >= {"error_code", "message"}
