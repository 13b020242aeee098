"""``spanrun runs describe`` lists a run's datasets (inputs), as text and JSON."""

from __future__ import annotations

import json

import pandas as pd

import spanrun
from tests.cli.conftest import Cli


def test_runs_describe_lists_datasets(cli: Cli) -> None:
    df = pd.DataFrame({"q": ["a", "b", "c"], "label": [1, 0, 1]})
    dataset = spanrun.data.from_pandas(df, name="eval\x1b[31m", source="data/eval.csv")
    run_id = cli.client.create_run("0").info.run_id
    entity = spanrun.data.from_pandas(df, name="train").to_entity()
    spanrun.set_tracking_uri(cli.uri)
    with spanrun.start_run(run_id=run_id):
        spanrun.log_input(dataset, context="eval")
    cli.client.log_inputs(run_id, [spanrun.entities.DatasetInput(entity)])

    text = cli.ok("runs", "describe", run_id)
    lines = text.split("Datasets\n", 1)[1].splitlines()
    assert lines[0].split() == ["name", "digest", "context", "source_type", "rows"]
    assert lines[2].split() == ["eval\\x1b[31m", dataset.digest, "eval", "local", "3"]
    assert lines[3].split() == ["train", entity.digest, "code", "3"]
    assert "\x1b" not in text  # escaped, not executed

    data = json.loads(cli.ok("runs", "describe", run_id, "--json"))
    first, second = data["inputs"]["dataset_inputs"]
    assert first["dataset"]["name"] == "eval\x1b[31m"
    assert first["tags"] == {"mlflow.data.context": "eval"}
    assert second["dataset"] == entity.to_dictionary()


def test_runs_describe_without_datasets(cli: Cli) -> None:
    run_id = cli.client.create_run("0").info.run_id
    assert cli.ok("runs", "describe", run_id).endswith("Datasets\n(none)\n")
    assert json.loads(cli.ok("runs", "describe", run_id, "--json"))["inputs"] == {
        "dataset_inputs": []
    }
