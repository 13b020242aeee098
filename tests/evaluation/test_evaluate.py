"""spanrun.evaluate: models of every kind, data shapes, metric arguments, failures, Ctrl-C."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pandas as pd
import pytest
from langchain_core.runnables import RunnableLambda

import spanrun
from spanrun.errors import InvalidInputError
from spanrun.metrics import MetricValue, make_metric

QA = pd.DataFrame(
    {
        "inputs": ["What is MLflow?", "What is Spark?", "Who wrote it?"],
        "ground_truth": ["Echo: What is MLflow?", "Apache Spark is an engine.", "Nobody."],
    }
)


def echo_model(df: pd.DataFrame) -> list[str]:
    return [f"Echo: {q}" for q in df["inputs"]]


def _table(run_id: str) -> pd.DataFrame:
    return spanrun.load_table("eval_results_table.json", run_ids=[run_id])


def test_callable_model_question_answering():
    with spanrun.start_run() as run:
        result = spanrun.evaluate(
            echo_model, QA, targets="ground_truth", model_type="question-answering"
        )
    assert result.run_id == run.info.run_id
    assert result.metrics["exact_match/v1"] == pytest.approx(1 / 3)
    for name in ("ari_grade_level/v1", "flesch_kincaid_grade_level/v1"):
        assert {f"{name}/mean", f"{name}/variance", f"{name}/p90"} <= set(result.metrics)
    assert "toxicity/v1/mean" not in result.metrics  # no local toxicity model here
    table = result.tables["eval_results_table"]
    assert list(table.columns) == [
        "inputs",
        "ground_truth",
        "outputs",
        "token_count",
        "flesch_kincaid_grade_level/v1/score",
        "ari_grade_level/v1/score",
    ]
    assert table["outputs"].tolist() == echo_model(QA)
    assert table["token_count"].tolist() == [7, 6, 6]  # cl100k_base, offline
    # The run has the metrics, and the table is an artifact load_table reads.
    logged = spanrun.get_run(run.info.run_id).data.metrics
    assert logged == pytest.approx(result.metrics)
    saved = _table(run.info.run_id)
    assert saved["outputs"].tolist() == table["outputs"].tolist()
    assert saved["ari_grade_level/v1/score"].tolist() == pytest.approx(
        table["ari_grade_level/v1/score"].tolist()
    )
    assert result.artifacts["eval_results_table"].uri.endswith("/eval_results_table.json")


def test_new_run_when_none_is_active_and_tables_across_runs():
    first = spanrun.evaluate(echo_model, QA, targets="ground_truth", model_type="text")
    assert spanrun.active_run() is None
    run = spanrun.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert "flesch_kincaid_grade_level/v1/mean" in run.data.metrics
    assert "exact_match/v1" not in run.data.metrics  # not a text metric
    second = spanrun.evaluate(
        lambda df: ["short"] * len(df), QA, model_type="text", targets="ground_truth"
    )
    both = spanrun.load_table(
        "eval_results_table.json", run_ids=[first.run_id, second.run_id], extra_columns=["run_id"]
    )
    assert both.groupby("run_id").size().to_dict() == {first.run_id: 3, second.run_id: 3}


def test_predictions_column_without_a_model_and_list_of_dicts():
    rows = [
        {"question": "a?", "answer": "The cat sat on the mat.", "truth": "The cat sat."},
        {"question": "b?", "answer": "Dogs bark loudly at night.", "truth": "Dogs bark."},
    ]
    result = spanrun.evaluate(
        data=rows, predictions="answer", targets="truth", model_type="text-summarization"
    )
    table = result.tables["eval_results_table"]
    assert list(table.columns[:3]) == ["question", "truth", "answer"]
    for rouge in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert f"{rouge}/v1/mean" in result.metrics
        assert len(table[f"{rouge}/v1/score"]) == 2
    assert table["rouge1/v1/score"][0] == pytest.approx(2 * 3 / (6 + 3) / 1)  # P=3/6, R=3/3


def test_extra_metrics_get_arguments_by_name():
    seen = {}

    def lengths(predictions, targets):
        return MetricValue(
            scores=[len(p) - len(t) for p, t in zip(predictions, targets, strict=True)]
        )

    def uses_columns(predictions, inputs, ground_truth, metrics, weight, topic="none"):
        seen.update(inputs=list(inputs), gt=list(ground_truth), weight=weight, topic=topic)
        seen["deps"] = sorted(metrics)
        return float(np.mean([len(p) for p in predictions])) * weight

    def everything(**kwargs):
        seen["kwargs"] = sorted(kwargs)
        return 1

    def after_lengths(lengths):  # a metric using another metric (computed after it)
        return MetricValue(aggregate_results={"sum": float(sum(lengths.scores))})

    extra = [
        make_metric(eval_fn=after_lengths, greater_is_better=True),
        make_metric(eval_fn=lengths, greater_is_better=True, version="v2"),
        make_metric(eval_fn=uses_columns, greater_is_better=True, name="weighted"),
        make_metric(eval_fn=everything, greater_is_better=True),
    ]
    result = spanrun.evaluate(
        echo_model,
        QA,
        targets="ground_truth",
        extra_metrics=extra,
        evaluator_config={"weight": 2.0, "col_mapping": {"topic": "inputs"}},
    )
    expected_lengths = [
        len(p) - len(t) for p, t in zip(echo_model(QA), QA["ground_truth"], strict=True)
    ]
    assert result.metrics["lengths/v2/mean"] == pytest.approx(np.mean(expected_lengths))
    assert result.metrics["after_lengths/sum"] == sum(expected_lengths)
    assert result.metrics["weighted"] == pytest.approx(
        np.mean([len(p) for p in echo_model(QA)]) * 2
    )
    assert result.metrics["everything"] == 1
    assert seen["inputs"] == QA["inputs"].tolist()
    assert seen["gt"] == QA["ground_truth"].tolist()
    assert seen["weight"] == 2.0
    assert list(seen["topic"]) == QA["inputs"].tolist()  # col_mapping
    assert seen["kwargs"] == ["ground_truth", "inputs"]
    assert result.tables["eval_results_table"]["lengths/v2/score"].tolist() == expected_lengths


def test_a_metric_that_raises_is_left_out(caplog):
    def broken(predictions):
        raise ZeroDivisionError("boom")

    def fine(predictions):
        return 0.5

    with caplog.at_level(logging.WARNING, logger="spanrun.evaluation"):
        result = spanrun.evaluate(
            echo_model,
            QA,
            extra_metrics=[
                make_metric(eval_fn=broken, greater_is_better=True),
                make_metric(eval_fn=fine, greater_is_better=True),
            ],
        )
    assert result.metrics == {"fine": 0.5}
    assert "Metric 'broken' failed" in caplog.text and "ZeroDivisionError: boom" in caplog.text


def test_a_missing_column_fails_before_any_model_call():
    calls = []

    def model(df):
        calls.append(len(df))
        return ["x"] * len(df)

    def needs_context(predictions, context):
        return 1.0

    metric = make_metric(eval_fn=needs_context, greater_is_better=True)
    with pytest.raises(InvalidInputError, match="metric 'needs_context' needs column 'context'"):
        spanrun.evaluate(model, QA, extra_metrics=[metric])

    def needs_targets(predictions, targets):
        return 1.0

    with pytest.raises(InvalidInputError, match="the 'targets' argument"):
        spanrun.evaluate(
            model, QA, extra_metrics=[make_metric(eval_fn=needs_targets, greater_is_better=True)]
        )
    assert calls == []
    assert spanrun.search_runs(output_format="list") == []  # no run was started either


def test_langchain_runnable_per_row_in_order():
    threads = set()

    def answer(question: str) -> str:
        threads.add(threading.get_ident())
        return question.upper()

    result = spanrun.evaluate(RunnableLambda(answer), QA[["inputs"]], model_type="text")
    assert result.tables["eval_results_table"]["outputs"].tolist() == [
        q.upper() for q in QA["inputs"]
    ]
    # Several input columns: the runnable gets the row as a dict.
    result = spanrun.evaluate(
        RunnableLambda(lambda row: f"{row['inputs']} / {row['ground_truth']}"),
        QA,
        extra_metrics=[
            make_metric(eval_fn=lambda predictions: 1.0, greater_is_better=True, name="one")
        ],
    )
    assert result.metrics == {"one": 1.0}


def test_ctrl_c_keeps_the_rows_done():
    done = []
    stop_at = 7

    def answer(question: str) -> str:
        index = int(question.split()[-1])
        if index == stop_at:
            raise KeyboardInterrupt
        done.append(index)
        return f"Answer number {index}."

    data = pd.DataFrame({"inputs": [f"question {i}" for i in range(40)]})
    with pytest.raises(KeyboardInterrupt):
        spanrun.evaluate(RunnableLambda(answer), data, model_type="text")
    (run,) = spanrun.search_runs(output_format="list")
    assert run.info.status == "KILLED"
    table = _table(run.info.run_id)
    kept = [int(q.split()[-1]) for q in table["inputs"]]
    assert stop_at not in kept
    assert kept == sorted(kept) and set(kept) <= set(done) and kept  # row order kept
    assert table["outputs"].tolist() == [f"Answer number {i}." for i in kept]
    assert len(kept) < 40
    assert "ari_grade_level/v1/mean" in run.data.metrics


def test_ctrl_c_in_a_function_model_propagates():
    def model(df):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), spanrun.start_run():
        spanrun.evaluate(model, QA, model_type="text")
    (run,) = spanrun.search_runs(output_format="list")
    assert run.info.status == "KILLED"  # the user's run, ended by the interrupt
    assert "ari_grade_level/v1/mean" not in run.data.metrics  # no row was done


def test_latency_and_metric_prefix():
    result = spanrun.evaluate(
        echo_model,
        QA,
        extra_metrics=[spanrun.metrics.latency()],
        evaluator_config={"metric_prefix": "v2_"},
        model_type="text",
    )
    table = result.tables["eval_results_table"]
    assert "v2_latency" in table.columns and (table["v2_latency"] >= 0).all()
    # MLflow prefixes the aggregate names too (checked against MLflow in test_mlflow_parity).
    assert {"v2_latency/v2_mean", "v2_ari_grade_level/v1/v2_mean"} <= set(result.metrics)
    assert "v2_token_count" in table.columns
    no_model = spanrun.evaluate(
        data=QA, predictions="ground_truth", extra_metrics=[spanrun.metrics.latency()]
    )
    assert no_model.tables["eval_results_table"]["latency"].tolist() == [0.0, 0.0, 0.0]


def test_multi_output_model_needs_the_predictions_name():
    def model(df):
        return pd.DataFrame({"answer": ["a"] * len(df), "source": ["s"] * len(df)})

    def uses_source(predictions, source):
        return float(len(source))

    metric = make_metric(eval_fn=uses_source, greater_is_better=True)
    with pytest.raises(InvalidInputError, match="column 'source'"):
        spanrun.evaluate(model, QA, extra_metrics=[metric])
    result = spanrun.evaluate(model, QA, predictions="answer", model_type="text")
    assert result.tables["eval_results_table"]["outputs"].tolist() == ["a", "a", "a"]
    with pytest.raises(InvalidInputError, match="several columns"):
        spanrun.evaluate(model, QA, model_type="text")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": None}, "cannot be None"),
        ({"data": "text"}, "DataFrame"),
        ({"data": []}, "DataFrame"),
        ({"data": pd.DataFrame({"inputs": []})}, "no rows"),
        ({"model_type": "classifier"}, "model_type must be one of"),
        ({"model_type": None}, "nothing to compute"),
        ({"targets": "nope"}, "targets='nope' is not a column"),
        ({"model": None}, "predictions="),
        ({"model": None, "predictions": "nope"}, "predictions='nope'"),
        ({"env_manager": "conda"}, "env_manager"),
        ({"evaluators": ["shap"]}, "default evaluator"),
        ({"extra_metrics": [len]}, "EvaluationMetric"),
        ({"model": 42}, "model must be"),
        ({"model": lambda df: ["only one"]}, "returned 1 outputs for 3 rows"),
        ({"model": lambda df: 7}, "must return a list"),
        ({"evaluator_config": {"col_mapping": "x"}}, "col_mapping"),
        ({"model_config": {"temperature": 0}}, "model_config"),
    ],
)
def test_bad_input_is_a_typed_error(kwargs, match):
    args = {"model": echo_model, "data": QA, "model_type": "text", **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        spanrun.evaluate(args.pop("model"), args.pop("data"), **args)


def test_model_uri_that_does_not_exist():
    with pytest.raises(spanrun.NotFoundError):
        spanrun.evaluate("runs:/0123456789abcdef/model", QA, model_type="text")


def test_custom_artifacts_are_logged(tmp_path):
    seen = {}
    note = tmp_path / "note.txt"
    note.write_text("hello")

    def artifacts(eval_df, metrics, artifacts_dir):
        seen["columns"] = list(eval_df.columns)
        seen["metrics"] = dict(metrics)
        return {"summary": {"rows": len(eval_df)}, "frame": eval_df.head(1), "note": str(note)}

    result = spanrun.evaluate(
        echo_model, QA, targets="ground_truth", model_type="text", custom_artifacts=[artifacts]
    )
    assert seen["columns"] == ["prediction", "target"]
    assert "ari_grade_level/v1/mean" in seen["metrics"]
    files = {f.path for f in spanrun.artifacts.list_artifacts(run_id=result.run_id)}
    assert {"summary.json", "frame.csv", "note.txt", "eval_results_table.json"} <= files
    assert spanrun.artifacts.load_dict(result.artifacts["summary"].uri) == {"rows": 3}


def test_judge_metric_definitions_are_logged_as_mlflow_does():
    args = {"name": "politeness", "version": "v1", "definition": "Is it polite?"}
    judge_like = make_metric(
        eval_fn=lambda predictions: MetricValue(
            scores=[5] * len(predictions), justifications=["polite"] * len(predictions)
        ),
        greater_is_better=True,
        name="politeness",
        version="v1",
        genai_metric_args=args,
    )
    result = spanrun.evaluate(echo_model, QA, extra_metrics=[judge_like])
    table = result.tables["eval_results_table"]
    assert table["politeness/v1/justification"].tolist() == ["polite"] * 3
    assert result.metrics["politeness/v1/mean"] == 5
    definitions = spanrun.load_table("genai_custom_metrics.json", run_ids=[result.run_id])
    assert definitions["name"].tolist() == ["politeness"]
    assert definitions["metric_args"].tolist() == [args]
    assert "genai_custom_metrics" in result.artifacts


def test_metrics_module_is_mlflows():
    assert spanrun.metrics.ari_grade_level().key == "ari_grade_level/v1"
    assert spanrun.metrics.token_count().key == "token_count"
    assert spanrun.metrics.toxicity().long_name == "toxicity/roberta-hate-speech-dynabench-r4"
    assert not hasattr(spanrun.metrics, "bleu")  # an UnsupportedError is an AttributeError
    with pytest.raises(spanrun.errors.UnsupportedError, match="make_metric"):
        spanrun.metrics.precision_at_k(3)
