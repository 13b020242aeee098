"""spanrun.openai.log_model and spanrun.pyfunc.load_model: the spec artifact, no secrets, task
objects, and predictions through the real openai client against the local server."""

from __future__ import annotations

import logging
import os
import time

import pandas as pd
import pytest
import yaml

import openai
import spanrun
from spanrun.errors import InvalidInputError, NotFoundError, UnsafePathError

QA = [
    {"role": "system", "content": "Answer the following question in two sentences"},
    {"role": "user", "content": "{question}"},
]


def _spec_files(run_id: str) -> dict[str, object]:
    local = spanrun.artifacts.download_artifacts(run_id=run_id, artifact_path="model")
    with open(os.path.join(local, "model.yaml")) as f:
        spec = yaml.safe_load(f)
    with open(os.path.join(local, "MLmodel")) as f:
        mlmodel = yaml.safe_load(f)
    return {"spec": spec, "mlmodel": mlmodel, "raw": open(os.path.join(local, "model.yaml")).read()}


def test_log_model_writes_the_spec_and_returns_the_uri(caplog):
    with spanrun.start_run() as run, caplog.at_level(logging.WARNING, "spanrun.evaluation"):
        info = spanrun.openai.log_model(
            model="gpt-4o-mini",
            task=openai.ChatCompletion,  # the legacy name: an APIRemovedInV1Proxy
            artifact_path="model",
            messages=QA,
            temperature=0,
            max_tokens=50,
            api_key="sk-do-not-store",
            default_headers={"Authorization": "Bearer sk-nope"},
        )
    assert info.model_uri == f"runs:/{run.info.run_id}/model"
    assert (info.run_id, info.artifact_path) == (run.info.run_id, "model")
    files = _spec_files(run.info.run_id)
    assert files["spec"] == {
        "model": "gpt-4o-mini",
        "task": "chat.completions",
        "messages": QA,
        "temperature": 0,
        "max_tokens": 50,
    }
    assert "sk-" not in files["raw"] and "Bearer" not in files["raw"]
    assert info.dropped_params == ("api_key", "default_headers")
    assert "api_key, default_headers" in caplog.text and "sk-do-not-store" not in caplog.text
    mlmodel = files["mlmodel"]
    assert mlmodel["run_id"] == run.info.run_id
    assert mlmodel["flavors"]["openai"]["data"] == "model.yaml"


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (openai.chat.completions, "chat.completions"),
        (openai.resources.chat.Completions, "chat.completions"),
        (openai.ChatCompletion, "chat.completions"),
        (openai.completions, "completions"),
        (openai.embeddings, "embeddings"),
        (openai.Embedding, "embeddings"),
        ("chat.completions", "chat.completions"),
        ("openai.chat.completions", "chat.completions"),
        ("completions", "completions"),
    ],
)
def test_task_objects_and_names(task, expected):
    assert spanrun.evaluation.task_name(task) == expected


@pytest.mark.parametrize("task", ["images", "openai.Moderation", 42, openai.models])
def test_unsupported_task_is_a_typed_error(task):
    with pytest.raises(InvalidInputError, match="Unsupported task"):
        spanrun.openai.log_model(model="gpt-4o-mini", task=task)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"messages": [{"content": "no role"}]}, InvalidInputError, "role"),
        ({"messages": "hi"}, InvalidInputError, "role"),
        ({"model": ""}, InvalidInputError, "model name"),
        ({"artifact_path": "../escape"}, UnsafePathError, None),
        ({"artifact_path": "/abs"}, UnsafePathError, None),
        ({"stop": object()}, InvalidInputError, "plain values"),
    ],
)
def test_bad_log_model_input(kwargs, error, match):
    args = {"model": "gpt-4o-mini", "task": "chat.completions", **kwargs}
    with spanrun.start_run(), pytest.raises(error, match=match):
        spanrun.openai.log_model(**args)


def test_log_model_outside_a_run_makes_a_finished_run():
    info = spanrun.openai.log_model(model="gpt-4o-mini", task="chat.completions", messages=QA)
    assert spanrun.active_run() is None
    assert spanrun.get_run(info.run_id).info.status == "FINISHED"
    assert _spec_files(info.run_id)["spec"]["model"] == "gpt-4o-mini"
    # MLflow's mlflow.openai.load_model: the spec as a dict.
    assert spanrun.openai.load_model(info.model_uri) == {
        "model": "gpt-4o-mini",
        "task": "chat.completions",
        "messages": QA,
    }


def test_load_model_from_runs_uri_artifact_uri_and_local_dir(openai_env, tmp_path):
    with spanrun.start_run():
        info = spanrun.openai.log_model(model="gpt-4o-mini", task=openai.chat.completions,
                                        messages=QA)  # fmt: skip
        artifact_uri = spanrun.get_artifact_uri("model")
    local = spanrun.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "dl"))
    for uri in (info.model_uri, artifact_uri, local):
        model = spanrun.pyfunc.load_model(uri)
        assert model.predict(pd.DataFrame({"inputs": ["What is MLflow?"]})) == [
            "Echo: What is MLflow?"
        ]
    # The request the server got: the system message, the filled user template, the model.
    body = openai_env.requests[-1].body
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [QA[0], {"role": "user", "content": "What is MLflow?"}]
    headers = {k.lower(): v for k, v in openai_env.requests[-1].headers.items()}
    assert headers["authorization"] == "Bearer sk-test-secret"  # from OPENAI_API_KEY


def test_predict_input_shapes_and_placeholders(openai_env):
    info = spanrun.openai.log_model(
        model="gpt-4o-mini",
        task="chat.completions",
        messages=[{"role": "user", "content": "{topic}: {question}"}],
    )
    model = spanrun.pyfunc.load_model(info.model_uri)
    rows = [{"topic": "db", "question": "what is SQL?"}, {"topic": "ml", "question": "what?"}]
    expected = ["Echo: db: what is SQL?", "Echo: ml: what?"]
    assert model.predict(rows) == expected
    assert model.predict(pd.DataFrame(rows)) == expected
    assert model.predict({"topic": "x", "question": "y"}) == ["Echo: x: y"]
    with pytest.raises(InvalidInputError, match=r"missing \['topic'\]"):
        model.predict([{"question": "no topic"}])

    single = spanrun.pyfunc.load_model(
        spanrun.openai.log_model(model="gpt-4o-mini", task="chat.completions").model_uri
    )  # no template: the row's text is the user message
    assert single.predict(["a", "b"]) == ["Echo: a", "Echo: b"]
    with pytest.raises(InvalidInputError, match="No text column"):
        single.predict(pd.DataFrame({"n": [1, 2]}))
    with pytest.raises(InvalidInputError, match="DataFrame"):
        single.predict(42)


def test_rows_run_concurrently_in_order(openai_env):
    info = spanrun.openai.log_model(model="gpt-4o-mini", task="chat.completions",
                                    messages=[{"role": "user", "content": "{q}"}])  # fmt: skip
    model = spanrun.pyfunc.load_model(info.model_uri)
    questions = [f"q{i}" for i in range(20)]
    started = time.perf_counter()
    answers = model.predict(questions, params={"extra_headers": {"x-spanrun-fake": "delay=0.2"}})
    elapsed = time.perf_counter() - started
    assert answers == [f"Echo: {q}" for q in questions]
    assert elapsed < 2.0  # 20 rows of 0.2 s, 10 at once: ~0.4 s (sequential: 4 s)


def test_a_failed_request_raises_the_openai_error(openai_env):
    model = spanrun.pyfunc.load_model(
        spanrun.openai.log_model(model="model-does-not-exist", task="chat.completions").model_uri
    )
    with pytest.raises(openai.NotFoundError):
        model.predict(["x"])


def test_load_model_of_something_else(tmp_path):
    with pytest.raises(NotFoundError):
        spanrun.pyfunc.load_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="not an OpenAI model spec"):
        spanrun.pyfunc.load_model(str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "MLmodel").write_text("flavors:\n  openai:\n    data: ../../etc/passwd\n")
    with pytest.raises(UnsafePathError):
        spanrun.pyfunc.load_model(str(bad))
    (bad / "MLmodel").write_text("flavors: {}\n")
    (bad / "model.yaml").write_text("[not, a, spec]\n")
    with pytest.raises(InvalidInputError, match="does not describe"):
        spanrun.pyfunc.load_model(str(bad))
