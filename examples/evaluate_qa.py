"""The MLflow evaluation quickstart, unchanged but for the import: log an OpenAI model spec,
evaluate it on two questions with the question-answering metrics.

Run it against OpenAI (OPENAI_API_KEY) or any OpenAI-compatible server (OPENAI_BASE_URL), e.g.
spanrun's local one: ``python -m spanrun.testing.openai_server --port 8000`` and
``OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=unused python examples/evaluate_qa.py``.
"""

import pandas as pd

import openai
import spanrun as mlflow

eval_data = pd.DataFrame(
    {
        "inputs": ["What is MLflow?", "What is Spark?"],
        "ground_truth": [
            "MLflow is an open-source platform for managing the end-to-end machine learning "
            "lifecycle.",
            "Apache Spark is an open-source, distributed computing system designed for big data "
            "processing and analytics.",
        ],
    }
)

with mlflow.start_run() as run:
    system_prompt = "Answer the following question in two sentences"
    logged_model_info = mlflow.openai.log_model(
        model="gpt-4o-mini",
        task=openai.ChatCompletion,
        artifact_path="model",
        messages=[
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": "{question}"},
        ],
    )

    results = mlflow.evaluate(
        logged_model_info.model_uri,
        eval_data,
        targets="ground_truth",
        model_type="question-answering",
    )
    print(f"See aggregated evaluation results below: \n{results.metrics}")

    eval_table = results.tables["eval_results_table"]
    print(f"See evaluation table below: \n{eval_table}")
