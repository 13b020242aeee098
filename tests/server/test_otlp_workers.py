"""OTLP into ``spanrun server --workers 2`` (SQLite and PostgreSQL): one session run per sender
(``service.name`` + ``service.instance.id``), whichever worker receives its batches; every
call, prediction row and trace arrives, and the calls are numbered once across the workers."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd

from spanrun.artifacts import get_artifact_repository
from spanrun.store import get_store
from spanrun.store.base import RUN_KEY_TAG
from tests.server.conftest import ServerProcess
from tests.server.otlp._bodies import llm_span_json, request_json

REQUESTS_PER_SENDER = 12
SPANS_PER_REQUEST = 10
# (service.name, service.instance.id or None): three senders, so three session runs.
SENDERS = [("shop", "pod-a"), ("shop", "pod-b"), ("nightly-batch", None)]
_ids = itertools.count(1)


def _body(service: str, instance: str | None, sender: int, request: str) -> dict[str, Any]:
    spans = []
    for n in range(SPANS_PER_REQUEST):
        number = next(_ids)
        question = f"{service}/{instance}/{request}/{n}"
        spans.append(
            llm_span_json(f"{sender + 1:02x}{number:030x}", f"{number:016x}", question=question)
        )
    body = request_json(*spans, service=service)
    if instance is not None:
        body["resourceSpans"][0]["resource"]["attributes"].append(
            {"key": "service.instance.id", "value": {"stringValue": instance}}
        )
    return body


def test_one_session_run_per_sender_across_two_workers(
    server_factory: Callable[..., ServerProcess], fresh_backend_uri: str
) -> None:
    server = server_factory(fresh_backend_uri, workers=2)
    errors: list[str] = []

    def send(sender: int, thread: str) -> None:
        service, instance = SENDERS[sender]
        for number in range(REQUESTS_PER_SENDER):
            # A new connection per request: the kernel hands them to either worker.
            with httpx.Client(base_url=server.base_url, timeout=60) as http:
                answer = http.post(
                    "/v1/traces", json=_body(service, instance, sender, f"{thread}{number}")
                )
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code}: {answer.text[:200]}")

    # Two threads per sender: its batches race to both workers at once.
    threads = [
        threading.Thread(target=send, args=(s, t)) for s in range(len(SENDERS)) for t in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    assert server.log().count("Started server process") == 2

    store = get_store(fresh_backend_uri, str(server.artifacts_destination))
    runs = store.search_runs(["0"], max_results=100)
    assert sorted(r.info.run_name for r in runs) == ["nightly-batch", "shop", "shop"]
    assert len({r.data.tags[RUN_KEY_TAG] for r in runs}) == 3
    per_sender = 2 * REQUESTS_PER_SENDER * SPANS_PER_REQUEST
    questions: set[str] = set()
    for run in runs:
        run_id = run.info.run_id
        assert len(store.get_metric_history(run_id, "llm.input_tokens")) == per_sender
        # Each worker numbered the calls it mapped; the store renumbered them after the calls
        # the other worker had stored: one sequence, running totals over both.
        calls = sorted((m.step, m.value) for m in store.get_metric_history(run_id, "llm.calls"))
        assert calls == [(i, i + 1.0) for i in range(per_sender)]
        assert run.data.metrics["llm.calls"] == per_sender
        assert run.data.metrics["llm.cumulative_input_tokens"] == 12 * per_sender
        data = get_artifact_repository(run.info.artifact_uri).read_bytes("llm_predictions.csv")
        rows = pd.read_csv(io.BytesIO(data), dtype=str)
        assert len(rows) == per_sender
        assert len(store.search_traces(run_id=run_id, max_results=1000)) == per_sender
        prefixes = {q.rsplit("/", 2)[0] for q in rows["inputs"]}
        assert len(prefixes) == 1  # one sender's calls only
        questions |= set(rows["inputs"])
    assert len(questions) == len(SENDERS) * per_sender
