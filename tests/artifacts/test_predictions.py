from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import spanrun
from spanrun.artifacts import LocalArtifactRepository, get_artifact_repository
from spanrun.errors import InvalidInputError
from spanrun.llm import PREDICTIONS_FILE, append_prediction_rows, log_predictions

NASTY = [
    "plain",
    'comma, and "double quotes"',
    "line\nbreak and\r\nwindows and\rcarriage",
    "ünïcödé — 中文 — 🚀",
    "  leading and trailing spaces  ",
    "NA",
    "",
    "null",
    "42",
    '"',
    "tab\tseparated",
    "nul\x00byte",
]


def _read(repo: LocalArtifactRepository, name: str = PREDICTIONS_FILE) -> pd.DataFrame:
    path = Path(repo.root, name)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _run_repo() -> LocalArtifactRepository:
    run = spanrun.active_run()
    assert run is not None
    repo = get_artifact_repository(run.info.artifact_uri)
    assert isinstance(repo, LocalArtifactRepository)
    return repo


def test_log_predictions_round_trips_nasty_content(tracking_uri: str) -> None:
    prompts = [{"role": "user", "content": text} for text in NASTY]
    with spanrun.start_run():
        log_predictions(NASTY, [t[::-1] for t in NASTY], prompts)
        log_predictions(["second"], ["call"], ["prompt"])
        frame = _read(_run_repo())
    assert list(frame.columns) == ["inputs", "outputs", "prompts"]
    assert frame["inputs"].tolist() == [*NASTY, "second"]
    assert frame["outputs"].tolist() == [t[::-1] for t in NASTY] + ["call"]
    assert [json.loads(p) for p in frame["prompts"][:-1]] == prompts
    assert frame["prompts"].iloc[-1] == "prompt"


def test_log_predictions_dict_inputs_and_default_read(tracking_uri: str) -> None:
    with spanrun.start_run():
        log_predictions([{"question": "2+2?", "n": 1}], ["4"], ["Answer: {question}"])
        frame = pd.read_csv(Path(_run_repo().root, PREDICTIONS_FILE))
    assert json.loads(frame["inputs"][0]) == {"question": "2+2?", "n": 1}
    assert frame["outputs"].tolist() == [4]  # plain read_csv infers numbers


def test_log_predictions_starts_a_run_when_none_is_active(tracking_uri: str) -> None:
    assert spanrun.active_run() is None
    log_predictions(["a"], ["b"], ["c"])
    run = spanrun.active_run()
    assert run is not None
    assert _read(_run_repo()).to_dict("list") == {
        "inputs": ["a"],
        "outputs": ["b"],
        "prompts": ["c"],
    }
    spanrun.end_run()


@pytest.mark.parametrize(
    ("inputs", "outputs", "prompts", "message"),
    [
        (["a", "b"], ["x"], ["p", "q"], "same length"),
        ("abc", ["x"], ["p"], "must be a list"),
        ([1], ["x"], ["p"], r"inputs\[0\] must be a str or dict"),
        (["a"], [{"x": 1}], ["p"], r"outputs\[0\] must be a str"),
        (["a"], ["x"], [None], r"prompts\[0\]"),
    ],
)
def test_log_predictions_bad_input_writes_nothing(
    tracking_uri: str, inputs: object, outputs: object, prompts: object, message: str
) -> None:
    with spanrun.start_run():
        with pytest.raises(InvalidInputError, match=message):
            log_predictions(inputs, outputs, prompts)  # type: ignore[arg-type]
        assert not _run_repo().exists(PREDICTIONS_FILE)


def test_append_rows_header_once_and_subset_rows(repo: LocalArtifactRepository) -> None:
    wide = ["inputs", "outputs", "prompts", "model", "latency_ms"]
    append_prediction_rows(repo, [{"inputs": "i1", "model": "gpt", "latency_ms": 1.5}], wide)
    append_prediction_rows(repo, [{"inputs": "i2", "outputs": "o2", "prompts": "p2"}], wide[:3])
    text = repo.read_bytes(PREDICTIONS_FILE).decode()
    assert text.count("inputs,outputs,prompts") == 1
    frame = _read(repo)
    assert frame.to_dict("list") == {
        "inputs": ["i1", "i2"],
        "outputs": ["", "o2"],
        "prompts": ["", "p2"],
        "model": ["gpt", ""],
        "latency_ms": ["1.5", ""],
    }


def test_append_rows_with_new_columns_rewrites_with_the_union(
    repo: LocalArtifactRepository,
) -> None:
    append_prediction_rows(repo, [{"inputs": 'a,"b"\nc', "outputs": "o"}], ["inputs", "outputs"])
    append_prediction_rows(
        repo,
        [{"inputs": "x", "error": "Boom", "trace_id": "ab"}, {"inputs": "y"}],
        ["inputs", "trace_id", "error"],
    )
    frame = _read(repo)
    assert list(frame.columns) == ["inputs", "outputs", "trace_id", "error"]
    assert frame.to_dict("records") == [
        {"inputs": 'a,"b"\nc', "outputs": "o", "trace_id": "", "error": ""},
        {"inputs": "x", "outputs": "", "trace_id": "ab", "error": "Boom"},
        {"inputs": "y", "outputs": "", "trace_id": "", "error": ""},
    ]


def test_append_rows_values_and_errors(repo: LocalArtifactRepository) -> None:
    with pytest.raises(InvalidInputError, match="not in columns"):
        append_prediction_rows(repo, [{"inputs": "a", "other": 1}], ["inputs"])
    with pytest.raises(InvalidInputError):
        append_prediction_rows(repo, [{"a": 1}], ["a", "a"])
    with pytest.raises(InvalidInputError):
        append_prediction_rows(repo, [{"a": 1}], ["bad\nname"])
    assert not repo.exists(PREDICTIONS_FILE)
    append_prediction_rows(repo, [], ["a"])
    assert not repo.exists(PREDICTIONS_FILE)
    append_prediction_rows(
        repo, [{"a": None, "b": 0.1 + 0.2, "c": [1, {"k": "ü"}], "d": True}], ["a", "b", "c", "d"]
    )
    row = _read(repo).iloc[0].to_dict()
    assert row == {"a": "", "b": "0.30000000000000004", "c": '[1, {"k": "ü"}]', "d": "True"}


def test_file_without_final_newline_is_repaired(repo: LocalArtifactRepository) -> None:
    repo.write_bytes(PREDICTIONS_FILE, b"inputs,outputs\r\nhand,edited")
    append_prediction_rows(repo, [{"inputs": "x", "outputs": "y"}], ["inputs", "outputs"])
    assert _read(repo).to_dict("list") == {"inputs": ["hand", "x"], "outputs": ["edited", "y"]}


def test_processes_appending_at_once_lose_no_rows(
    repo: LocalArtifactRepository, tmp_path: Path
) -> None:
    # Half the writers add a column mid-way, forcing atomic rewrites while others append.
    script = textwrap.dedent(
        f"""
        import sys
        from spanrun.artifacts import LocalArtifactRepository
        from spanrun.llm import append_prediction_rows
        repo = LocalArtifactRepository({repo.artifact_uri!r})
        worker = int(sys.argv[1])
        for i in range(40):
            cols = ["inputs", "outputs"] + ([f"extra{{worker}}"] if worker % 2 and i > 20 else [])
            row = {{"inputs": f"{{worker}}-{{i}}", "outputs": "line1\\nline2,x"}}
            append_prediction_rows(repo, [row], cols)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(w)], cwd=tmp_path) for w in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    frame = _read(repo)
    assert sorted(frame["inputs"]) == sorted(f"{w}-{i}" for w in range(4) for i in range(40))
    assert set(frame["outputs"]) == {"line1\nline2,x"}
    assert {"extra1", "extra3"} <= set(frame.columns)
    # Every record parses with the header's width (no torn or misaligned rows).
    records = list(csv.reader(io.StringIO(repo.read_bytes(PREDICTIONS_FILE).decode(), newline="")))
    assert {len(r) for r in records} == {len(records[0])}
