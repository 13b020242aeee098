"""End to end: ``spanrun.evaluate`` with judge metrics, the model and the judge both served by
the local server, as the MLflow quickstart does it (runs once ``spanrun.evaluate`` exists)."""

from __future__ import annotations

import pandas as pd
import pytest

import spanrun
from spanrun.metrics.genai import answer_correctness, answer_similarity
from tests.e2e._helpers import predictions, steps


@pytest.fixture
def evaluate():
    if not hasattr(spanrun, "evaluate") or not hasattr(spanrun.openai, "log_model"):
        pytest.skip("spanrun.evaluate / spanrun.openai.log_model are not in this checkout yet")
    return spanrun.evaluate


def test_evaluate_scores_rows_with_two_judges_and_logs_them(judge, store, evaluate):
    data = pd.DataFrame(
        {
            "inputs": ["What is MLflow?", "What is Spark?", "What is spanrun?"],
            # The model echoes the question: a target equal to the answer scores 5, one
            # sharing no word with it scores 1.
            "ground_truth": [
                "Echo: What is MLflow?",
                "A distributed engine",
                "Echo: spanrun rocks",
            ],
        }
    )
    with spanrun.start_run() as run:
        model = spanrun.openai.log_model(
            model="gpt-4o-mini",
            task="chat.completions",
            artifact_path="model",
            messages=[{"role": "user", "content": "{question}"}],
        )
        result = evaluate(
            model.model_uri,
            data,
            targets="ground_truth",
            model_type="question-answering",
            extra_metrics=[answer_correctness(), answer_similarity()],
        )
    run_id = run.info.run_id
    table = result.tables["eval_results_table"]
    assert table["outputs"].tolist() == [f"Echo: {q}" for q in data["inputs"]]
    for key in ("answer_correctness/v1", "answer_similarity/v1"):
        assert table[f"{key}/score"].tolist() == [5, 1, 4]  # 2 of 3 words for the last row
        justifications = table[f"{key}/justification"].tolist()
        assert justifications[0] == "4 of 4 reference words appear in the output."
        assert result.metrics[f"{key}/mean"] == pytest.approx(10 / 3)
        assert result.metrics[f"{key}/p90"] == pytest.approx(4.8)
        assert store.get_run(run_id).data.metrics[f"{key}/mean"] == pytest.approx(10 / 3)

    # 3 model calls and 6 judge calls in the run's metrics; only the model's are prediction rows.
    assert steps(store, run_id, "llm.calls")[-1][1] == 9
    # (the model's rows run concurrently: the CSV is in completion order)
    assert sorted(predictions(store, run_id)["outputs"]) == sorted(table["outputs"])
