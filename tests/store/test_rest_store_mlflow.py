"""The REST store against a real stock ``mlflow server`` (MLflow 3.x, its own venv): spanrun's
fluent API, client, artifacts, async logging and autolog logging into MLflow's server."""

from __future__ import annotations

import io
import json
import logging
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

import openai
import spanrun
from spanrun.core.entities import Metric, Param, RunTag
from spanrun.errors import (
    AlreadyExistsError,
    InvalidFilterError,
    InvalidParamChangeError,
    InvalidStateError,
    NotFoundError,
)
from spanrun.store import get_store
from spanrun.store.rest import RestStore
from spanrun.testing.openai_server import OpenAIServer

STORE_LOGGER = "spanrun.store.rest"


@pytest.fixture
def mlflow_uri(mlflow_server_uri: str) -> str:
    """The session's MLflow server as the tracking URI, with an experiment of this test's own."""
    spanrun.set_tracking_uri(mlflow_server_uri)
    spanrun.set_experiment(f"test-{uuid.uuid4().hex[:12]}")
    return mlflow_server_uri


@pytest.fixture
def client(mlflow_uri: str) -> spanrun.SpanrunClient:
    return spanrun.SpanrunClient(mlflow_uri)


def _csv(run_id: str, path: str) -> pd.DataFrame:
    text = spanrun.artifacts.load_text(f"runs:/{run_id}/{path}")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_the_store_is_a_rest_store_of_a_stock_mlflow_server(mlflow_uri: str) -> None:
    store = get_store(mlflow_uri)
    assert isinstance(store, RestStore)
    assert store.server_kind() == "mlflow"


def test_fluent_api(mlflow_uri: str, client: spanrun.SpanrunClient, tmp_path: Path) -> None:
    local = tmp_path / "weights.bin"
    local.write_bytes(b"\x00\x01binary")
    with spanrun.start_run(run_name="fluent", tags={"team": "nlp"}) as run:
        spanrun.log_param("model", "gpt-4o-mini")
        spanrun.log_params({"temperature": 0.2, "top_p": 1})
        spanrun.log_metric("loss", 1.5)
        spanrun.log_metric("loss", 0.5, step=1)
        spanrun.log_metrics({"acc": 0.9, "odd": math.nan}, step=2)
        spanrun.set_tag("stage", "test")
        spanrun.log_text("hello", "notes/hello.txt")
        spanrun.log_dict({"a": [1, 2]}, "config.json")
        spanrun.log_artifact(str(local), "bin")
        spanrun.log_table({"q": ["a", "b"], "n": [1, 2]}, "table.json")
        spanrun.log_table({"q": ["c"], "n": [3]}, "table.json")  # appends
        spanrun.llm.log_predictions(["in 1", {"x": 1}], ["out 1", "out 2"], ["p 1", "p 2"])
    run_id = run.info.run_id

    saved = client.get_run(run_id)
    assert saved.info.status == "FINISHED"
    assert saved.info.end_time is not None
    assert saved.info.run_name == "fluent"
    # MLflow's "mlflow-artifacts:/<path>", made self-contained (this server's endpoint).
    assert saved.info.artifact_uri == (
        f"{mlflow_uri}/api/2.0/mlflow-artifacts/artifacts/"
        f"{saved.info.experiment_id}/{run_id}/artifacts"
    )
    assert saved.data.params == {"model": "gpt-4o-mini", "temperature": "0.2", "top_p": "1"}
    assert saved.data.metrics["loss"] == 0.5
    assert saved.data.metrics["acc"] == 0.9
    assert math.isnan(saved.data.metrics["odd"])
    assert saved.data.tags["team"] == "nlp"
    assert saved.data.tags["stage"] == "test"
    assert json.loads(saved.data.tags["mlflow.loggedArtifacts"]) == [
        {"path": "table.json", "type": "table"}
    ]
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.5), (1, 0.5)]

    assert spanrun.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "hello"
    assert spanrun.artifacts.load_dict(f"runs:/{run_id}/config.json") == {"a": [1, 2]}
    names = [f.path for f in spanrun.artifacts.list_artifacts(run_id=run_id)]
    assert names == ["bin", "config.json", "llm_predictions.csv", "notes", "table.json"]
    downloaded = spanrun.artifacts.download_artifacts(
        run_id=run_id, artifact_path="bin", dst_path=str(tmp_path / "down")
    )
    assert (Path(downloaded) / "weights.bin").read_bytes() == b"\x00\x01binary"

    table = spanrun.load_table("table.json", run_ids=[run_id], extra_columns=["run_id"])
    assert table["q"].tolist() == ["a", "b", "c"]
    assert set(table["run_id"]) == {run_id}
    rows = _csv(run_id, "llm_predictions.csv")
    assert rows.columns.tolist() == ["inputs", "outputs", "prompts"]
    assert rows["inputs"].tolist() == ["in 1", '{"x": 1}']
    assert rows["outputs"].tolist() == ["out 1", "out 2"]

    found = spanrun.search_runs(filter_string="params.model = 'gpt-4o-mini' and metrics.acc > 0.5")
    assert found["run_id"].tolist() == [run_id]
    assert spanrun.search_runs(filter_string="metrics.acc > 0.95", output_format="list") == []


def test_a_client_with_an_explicit_uri_finds_its_servers_artifacts(
    mlflow_uri: str, tracking_uri: str
) -> None:
    client = spanrun.SpanrunClient(mlflow_uri)
    exp_id = client.create_experiment(f"x-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp_id).info.run_id
    spanrun.set_tracking_uri(tracking_uri)  # the current store is a local one again
    client.log_text(run_id, "remote text", "t.txt")
    client.log_table(run_id, {"a": [1]}, "tbl.json")
    assert spanrun.artifacts.load_text(f"{client.get_artifact_uri(run_id)}/t.txt") == "remote text"
    assert client.load_table(exp_id, "tbl.json", run_ids=[run_id])["a"].tolist() == [1]
    found = spanrun.artifacts.list_artifacts(run_id=run_id, tracking_uri=mlflow_uri)
    assert [f.path for f in found] == ["t.txt", "tbl.json"]


def test_client_runs_and_experiments(mlflow_uri: str, client: spanrun.SpanrunClient) -> None:
    name = f"exp-{uuid.uuid4().hex[:8]}"
    exp_id = client.create_experiment(name, tags={"owner": "me"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.tags["owner"], exp.lifecycle_stage) == (name, "me", "active")
    assert client.get_experiment_by_name(name) == exp
    assert client.get_experiment_by_name(f"missing-{uuid.uuid4().hex}") is None
    client.set_experiment_tag(exp_id, "phase", "two")
    client.rename_experiment(exp_id, name + "-renamed")
    assert client.get_experiment(exp_id).name == name + "-renamed"
    assert client.get_experiment(exp_id).tags["phase"] == "two"
    names = [e.name for e in client.search_experiments(filter_string=f"name = '{name}-renamed'")]
    assert names == [name + "-renamed"]

    run = client.create_run(exp_id, run_name="manual")
    run_id = run.info.run_id
    # Over MLflow's per-request limits (the async logger's and exporter's path): split.
    get_store(mlflow_uri).log_batch(
        run_id,
        metrics=[Metric("m", float(i), 1000 + i, i) for i in range(2500)],
        params=[Param(f"p{i}", str(i)) for i in range(250)],
        tags=[RunTag(f"t{i}", "v") for i in range(150)],
    )
    saved = client.get_run(run_id)
    assert len(saved.data.params) == 250
    assert sum(k.startswith("t") for k in saved.data.tags) == 150
    assert len(client.get_metric_history(run_id, "m")) == 2500
    client.set_tag(run_id, "gone", "soon")
    client.delete_tag(run_id, "gone")
    assert "gone" not in client.get_run(run_id).data.tags
    client.set_terminated(run_id, status="KILLED")
    assert client.get_run(run_id).info.status == "KILLED"

    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidStateError):
        client.log_param(run_id, "late", "x")
    client.restore_run(run_id)
    client.log_param(run_id, "late", "x")

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_errors_are_typed(mlflow_uri: str, client: spanrun.SpanrunClient) -> None:
    with pytest.raises(NotFoundError):
        client.get_run(uuid.uuid4().hex)
    with pytest.raises(NotFoundError):
        client.get_experiment("987654")
    name = f"dup-{uuid.uuid4().hex[:8]}"
    client.create_experiment(name)
    with pytest.raises(AlreadyExistsError):
        client.create_experiment(name)
    with spanrun.start_run():
        spanrun.log_param("p", "1")
        spanrun.log_param("p", "1")  # the same value again is fine
        with pytest.raises(InvalidParamChangeError, match="p"):
            spanrun.log_param("p", "2")
    with pytest.raises(InvalidFilterError):
        spanrun.search_runs(filter_string="metrics.x >>> 1")


def test_async_logging_goes_in_log_batch_requests(mlflow_uri: str) -> None:
    with spanrun.start_run() as run:
        for i in range(2500):
            spanrun.log_metric("fast", float(i), step=i, synchronous=False)
        spanrun.log_params({"a": 1, "b": 2}, synchronous=False).wait()
    history = spanrun.SpanrunClient().get_metric_history(run.info.run_id, "fast")
    assert [m.step for m in history] == list(range(2500))
    assert spanrun.get_run(run.info.run_id).data.params == {"a": "1", "b": "2"}


@pytest.fixture
def autologging() -> Iterator[None]:
    yield
    spanrun.autolog(disable=True)


def test_autolog_logs_into_a_stock_mlflow_server(
    mlflow_uri: str,
    openai_server: OpenAIServer,
    autologging: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=STORE_LOGGER)
    llm = openai.OpenAI(base_url=openai_server.base_url, api_key="test-key", max_retries=0)
    spanrun.autolog()
    with spanrun.start_run() as run:
        for i in range(3):
            llm.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"question {i}"}],
                temperature=0.3,
            )
    run_id = run.info.run_id
    client = spanrun.SpanrunClient()
    saved = client.get_run(run_id)
    assert saved.data.params["llm.model"] == "gpt-4o-mini"
    assert saved.data.params["llm.temperature"] == "0.3"
    calls = client.get_metric_history(run_id, "llm.calls")
    assert [(m.step, m.value) for m in calls] == [(0, 1), (1, 2), (2, 3)]
    assert all(m.value > 0 for m in client.get_metric_history(run_id, "llm.input_tokens"))
    rows = _csv(run_id, "llm_predictions.csv")
    assert rows["inputs"].tolist() == [f"question {i}" for i in range(3)]
    assert rows["outputs"].tolist() == [f"Echo: question {i}" for i in range(3)]

    # Spans went to MLflow's own trace store (its OTLP route), linked to the experiment.
    warnings = [r for r in caplog.records if "not a spanrun server" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "/v1/traces" in warnings[0].getMessage()
    experiment_id = saved.info.experiment_id
    found = httpx.post(
        f"{mlflow_uri}/api/3.0/mlflow/traces/search",
        json={
            "locations": [
                {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
            ]
        },
        timeout=30,
    ).json()
    trace_ids = {t["trace_id"].removeprefix("tr-") for t in found.get("traces", [])}
    assert trace_ids == set(rows["trace_id"])
    # spanrun's own trace API finds nothing there, and says so only in that one warning.
    assert client.search_traces(run_id=run_id) == []
    with pytest.raises(NotFoundError):
        client.get_trace(rows["trace_id"][0])
    assert len([r for r in caplog.records if "not a spanrun server" in r.getMessage()]) == 1
