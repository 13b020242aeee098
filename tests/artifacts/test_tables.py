from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spanrun
from spanrun.artifacts import get_artifact_repository
from spanrun.core.vocabulary import LOGGED_ARTIFACTS_TAG
from spanrun.errors import InvalidInputError, NotFoundError, TableSchemaError
from spanrun.tracking.client import SpanrunClient


def _file(client: SpanrunClient, run_id: str, name: str) -> bytes:
    return get_artifact_repository(client.get_artifact_uri(run_id)).read_bytes(name)


def test_log_table_appends_and_registers_once(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_table(run_id, {"q": ["a", "b"], "score": [1, 2]}, "eval/table.json")
    client.log_table(run_id, pd.DataFrame({"q": ["c"], "score": [3]}), "eval/table.json")
    client.log_table(run_id, {"score": [4], "q": ["d"]}, "eval/table.json")  # other order
    stored = json.loads(_file(client, run_id, "eval/table.json"))
    assert stored == {
        "columns": ["q", "score"],
        "data": [["a", 1], ["b", 2], ["c", 3], ["d", 4]],
    }
    tag = json.loads(client.get_run(run_id).data.tags[LOGGED_ARTIFACTS_TAG])
    assert tag == [{"path": "eval/table.json", "type": "table"}]
    client.log_table(run_id, {"x": [1]}, "other.json")
    tag = json.loads(client.get_run(run_id).data.tags[LOGGED_ARTIFACTS_TAG])
    assert tag == [
        {"path": "eval/table.json", "type": "table"},
        {"path": "other.json", "type": "table"},
    ]


def test_schema_mismatch_raises_and_keeps_the_table(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_table(run_id, {"a": [1], "b": [2]}, "t.json")
    before = _file(client, run_id, "t.json")
    with pytest.raises(TableSchemaError, match=r"\['a', 'b'\]"):
        client.log_table(run_id, {"a": [1], "c": [2]}, "t.json")
    with pytest.raises(TableSchemaError):
        client.log_table(run_id, {"a": [1]}, "t.json")
    assert _file(client, run_id, "t.json") == before


def test_values_round_trip(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    frame = pd.DataFrame(
        {
            "text": ['comma, "quote"', "line\nbreak", "ünï 🚀", None],
            "int": [1, -2, 3, 2**53],
            "float": [0.1 + 0.2, 1e-300, float("nan"), float("inf")],
            "flag": [True, False, True, False],
            "when": pd.to_datetime(
                ["2024-01-02 03:04:05", None, "2024-01-03 00:00:00", "2024-01-04 00:00:00"]
            ),
            "obj": [{"k": np.int64(3)}, np.array([1, 2]), [1.5, None], None],
        }
    )
    client.log_table(run_id, frame, "t.json")
    loaded = client.load_table("0", "t.json")
    assert loaded["text"].tolist()[:3] == ['comma, "quote"', "line\nbreak", "ünï 🚀"]
    assert pd.isna(loaded["text"].iloc[3])
    assert loaded["int"].tolist() == [1, -2, 3, 2**53]
    floats = loaded["float"].tolist()
    assert floats[0] == 0.1 + 0.2 and floats[1] == 1e-300  # exact, not rounded
    assert math.isnan(floats[2]) and math.isnan(floats[3])  # JSON has no NaN/inf: null
    assert loaded["flag"].tolist() == [True, False, True, False]
    assert loaded["when"].iloc[0] == "2024-01-02T03:04:05" and pd.isna(loaded["when"].iloc[1])
    assert loaded["obj"].tolist()[:3] == [{"k": 3}, [1, 2], [1.5, None]]


def test_empty_table_then_rows(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_table(run_id, pd.DataFrame({"a": [], "b": []}), "t.json")
    assert json.loads(_file(client, run_id, "t.json")) == {"columns": ["a", "b"], "data": []}
    client.log_table(run_id, {"a": [1], "b": ["x"]}, "t.json")
    client.log_table(run_id, {"a": [2], "b": ["y"]}, "t.json")
    assert json.loads(_file(client, run_id, "t.json"))["data"] == [[1, "x"], [2, "y"]]


def test_table_in_another_layout_is_rewritten_once(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    repo = get_artifact_repository(client.get_artifact_uri(run_id))
    # As pandas writes it with the index, pretty-printed: not appendable in place.
    repo.write_bytes(
        "t.json", b'{\n "columns": ["a"],\n "index": [0, 1],\n "data": [[1], [2]]\n}\n'
    )
    client.log_table(run_id, {"a": [3]}, "t.json")
    assert json.loads(repo.read_bytes("t.json")) == {"columns": ["a"], "data": [[1], [2], [3]]}
    repo.write_bytes("broken.json", b"not json")
    with pytest.raises(TableSchemaError, match=r"broken\.json"):
        client.log_table(run_id, {"a": [3]}, "broken.json")
    assert repo.read_bytes("broken.json") == b"not json"


def test_bad_data_is_a_clear_error(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    with pytest.raises(InvalidInputError, match="dict of columns or a pandas DataFrame"):
        client.log_table(run_id, [1, 2, 3], "t.json")
    with pytest.raises(InvalidInputError):
        client.log_table(run_id, {"a": [1, 2], "b": [1]}, "t.json")
    with pytest.raises(InvalidInputError):
        client.log_table(run_id, {"a": [1]}, "../t.json")


def test_load_table_over_runs_with_extra_columns(client: SpanrunClient) -> None:
    r1 = client.create_run("0").info.run_id
    r2 = client.create_run("0").info.run_id
    r3 = client.create_run("0").info.run_id  # logs another table only
    other_exp = client.create_experiment("other")
    r4 = client.create_run(other_exp).info.run_id
    client.log_table(r1, {"q": ["a", "b"]}, "t.json")
    client.log_table(r2, {"q": ["c"]}, "t.json")
    client.log_table(r3, {"q": ["z"]}, "u.json")
    client.log_table(r4, {"q": ["elsewhere"]}, "t.json")

    frame = client.load_table("0", "t.json", extra_columns=["run_id"])
    assert sorted(zip(frame["q"], frame["run_id"], strict=True)) == [
        ("a", r1),
        ("b", r1),
        ("c", r2),
    ]
    chosen = client.load_table("0", "t.json", run_ids=[r2, r4], extra_columns=["experiment_id"])
    assert chosen.to_dict("list") == {"q": ["c", "elsewhere"], "experiment_id": ["0", other_exp]}
    client.log_metric(r1, "acc", 0.75)
    client.set_tag(r1, "team", "nlp")
    wide = client.load_table(
        "0", "t.json", run_ids=[r1, r2], extra_columns=["metrics.acc", "tags.team", "status"]
    )
    assert wide["tags.team"].tolist()[:2] == ["nlp", "nlp"] and pd.isna(wide["tags.team"][2])
    assert wide["metrics.acc"].tolist()[:2] == [0.75, 0.75]
    assert math.isnan(wide["metrics.acc"].iloc[2])
    assert wide["status"].tolist() == ["RUNNING"] * 3
    # A chosen run without the table contributes nothing.
    only = client.load_table("0", "t.json", run_ids=[r1, r3])
    assert only["q"].tolist() == ["a", "b"]


def test_load_table_errors(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_table(run_id, {"run_id": ["mine"]}, "t.json")
    with pytest.raises(NotFoundError, match=r"missing\.json"):
        client.load_table("0", "missing.json")
    with pytest.raises(NotFoundError):
        client.load_table("0", "t.json", run_ids=["0" * 32])
    with pytest.raises(InvalidInputError, match="Unknown extra_columns"):
        client.load_table("0", "t.json", extra_columns=["bogus"])
    # A name the table already has gets a trailing "_", as in MLflow.
    frame = client.load_table("0", "t.json", extra_columns=["run_id"])
    assert frame.to_dict("list") == {"run_id": ["mine"], "run_id_": [run_id]}


def test_thousand_rows_in_one_call_and_many_appends(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_table(
        run_id, {"i": list(range(1000)), "text": [f"row {i}" for i in range(1000)]}, "t.json"
    )
    for i in range(1000, 1100):
        client.log_table(run_id, {"i": [i], "text": [f"row {i}"]}, "t.json")
    frame = client.load_table("0", "t.json")
    assert frame["i"].tolist() == list(range(1100))
    assert frame["text"].iloc[-1] == "row 1099"


def test_concurrent_appends_keep_every_row(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id

    def work(t: int) -> None:
        worker = SpanrunClient(client.tracking_uri)
        for i in range(20):
            worker.log_table(run_id, {"t": [t], "i": [i]}, "t.json")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    frame = client.load_table("0", "t.json")
    assert sorted(zip(frame["t"], frame["i"], strict=True)) == [
        (t, i) for t in range(4) for i in range(20)
    ]


def test_fluent_log_table_and_load_table(tracking_uri: str, tmp_path: Path) -> None:
    with spanrun.start_run() as run:
        spanrun.log_table({"a": [1]}, "t.json")
        spanrun.log_table({"a": [2]}, "t.json")
    frame = spanrun.load_table("t.json", extra_columns=["run_id"])
    assert frame.to_dict("list") == {"a": [1, 2], "run_id": [run.info.run_id] * 2}


def test_dict_and_dataframe_store_the_same_table(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    data = {"s": ["a", None, "ü"], "f": [0.5, None, 2.0], "b": [True, False, True]}
    client.log_table(run_id, data, "from_dict.json")
    client.log_table(run_id, pd.DataFrame(data), "from_frame.json")
    assert json.loads(_file(client, run_id, "from_dict.json")) == json.loads(
        _file(client, run_id, "from_frame.json")
    )


def test_load_while_another_thread_appends(client: SpanrunClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_table(run_id, {"i": [0]}, "t.json")
    stop = threading.Event()

    def append() -> None:
        i = 1
        while not stop.is_set() and i < 2000:
            client.log_table(run_id, {"i": [i]}, "t.json")
            i += 1

    writer = threading.Thread(target=append)
    writer.start()
    try:
        for _ in range(30):
            frame = client.load_table("0", "t.json", run_ids=[run_id])
            assert frame["i"].tolist() == list(range(len(frame)))
    finally:
        stop.set()
        writer.join()
