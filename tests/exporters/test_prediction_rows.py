"""Prediction rows given as lists of cells (the exporter's rows) to ``append_prediction_rows``."""

from __future__ import annotations

from pathlib import Path

import pytest

from spanrun.artifacts import LocalArtifactRepository
from spanrun.errors import InvalidInputError
from spanrun.llm import append_prediction_rows, encode_prediction_rows

COLUMNS = ["inputs", "outputs", "model"]


@pytest.fixture
def repo(tmp_path: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(str(tmp_path / "artifacts"))


def _text(repo: LocalArtifactRepository) -> str:
    return repo.read_bytes("p.csv").decode()


def test_list_rows_write_the_same_bytes_as_dict_rows(tmp_path: Path) -> None:
    cells = ['a,"b"\nc', None, 1.5]
    as_list = LocalArtifactRepository(str(tmp_path / "l"))
    as_dict = LocalArtifactRepository(str(tmp_path / "d"))
    for _ in range(2):  # a new file, then appending to it
        append_prediction_rows(as_list, [cells, ("x", {"k": "ü"}, [1])], COLUMNS, "p.csv")
        append_prediction_rows(
            as_dict,
            [
                dict(zip(COLUMNS, cells, strict=True)),
                {"inputs": "x", "outputs": {"k": "ü"}, "model": [1]},
            ],
            COLUMNS,
            "p.csv",
        )
    assert as_list.read_bytes("p.csv") == as_dict.read_bytes("p.csv")
    assert _text(as_list).splitlines()[:3] == [
        "inputs,outputs,model",
        '"a,""b""',
        'c",,1.5',
    ]
    assert '"{""k"": ""ü""}",[1]' in _text(as_list)


def test_list_rows_follow_the_files_column_order(repo: LocalArtifactRepository) -> None:
    append_prediction_rows(
        repo,
        [{"model": "m0", "extra": "e", "inputs": "i0"}],
        ["model", "extra", "inputs", "outputs"],
        "p.csv",
    )
    append_prediction_rows(repo, [["i1", "o1", "m1"]], COLUMNS, "p.csv")
    assert _text(repo).splitlines() == ["model,extra,inputs,outputs", "m0,e,i0,", "m1,,i1,o1"]


def test_list_rows_with_new_columns_rewrite_the_file(repo: LocalArtifactRepository) -> None:
    append_prediction_rows(repo, [["i0"]], ["inputs"], "p.csv")
    append_prediction_rows(repo, [["i1", "o1", "m1"], {"model": "m2"}], COLUMNS, "p.csv")
    assert _text(repo).splitlines() == ["inputs,outputs,model", "i0,,", "i1,o1,m1", ",,m2"]


def test_list_rows_need_one_cell_per_column(repo: LocalArtifactRepository) -> None:
    with pytest.raises(InvalidInputError, match="2 cells for 3 columns"):
        append_prediction_rows(repo, [["i", "o"]], COLUMNS, "p.csv")
    with pytest.raises(InvalidInputError, match="dicts or lists"):
        append_prediction_rows(repo, ["i,o,m"], COLUMNS, "p.csv")  # type: ignore[list-item]
    assert not repo.exists("p.csv")


def test_encoded_rows_are_the_bytes_of_the_rows(tmp_path: Path) -> None:
    mixed = [['a,"b"\nc', None, 1.5], ["x", {"k": "ü"}, [1]]]
    text_only = [['a,"b"\nc', "", "1.5"], ("x", "ü\r", "")]  # autolog's rows: all text
    for name, rows in (("mixed", mixed), ("text", text_only)):
        plain = LocalArtifactRepository(str(tmp_path / name / "plain"))
        fast = LocalArtifactRepository(str(tmp_path / name / "fast"))
        for _ in range(2):  # a new file, then appending to it
            append_prediction_rows(plain, rows, COLUMNS, "p.csv")
            encoded = encode_prediction_rows(rows)
            append_prediction_rows(fast, rows, COLUMNS, "p.csv", encoded=encoded)
        assert fast.read_bytes("p.csv") == plain.read_bytes("p.csv"), name
    assert b'{""k"": ""\xc3\xbc""}' in encode_prediction_rows(mixed)  # a dict cell is JSON


def test_encoded_rows_are_not_used_for_a_file_in_another_column_order(
    repo: LocalArtifactRepository,
) -> None:
    append_prediction_rows(repo, [["m0", "i0", "o0"]], ["model", "inputs", "outputs"], "p.csv")
    rows = [["i1", "o1", "m1"]]
    append_prediction_rows(repo, rows, COLUMNS, "p.csv", encoded=encode_prediction_rows(rows))
    assert _text(repo).splitlines() == ["model,inputs,outputs", "m0,i0,o0", "m1,i1,o1"]


def test_csv_bytes_are_those_of_the_csv_module() -> None:
    """The prediction CSV encoder writes, byte for byte, what csv.writer writes, and reads back
    as the same cells, for cells with every character that matters to CSV."""
    import csv
    import io
    import random

    from spanrun.artifacts.predictions import _encode

    rng = random.Random(4)
    alphabet = ['"', ",", "\n", "\r", " ", "a", "ü", "\t", "'", ";", "\\"]
    rows = [[""], [" "], ['"'], ["a", ""], ["", ""]]
    for _ in range(2000):
        width = rng.randint(1, 5)
        rows.append(["".join(rng.choices(alphabet, k=rng.randint(0, 6))) for _ in range(width)])
    expected = io.StringIO()
    csv.writer(expected).writerows(rows)
    encoded = _encode(rows)
    assert encoded == expected.getvalue().encode("utf-8")
    assert list(csv.reader(io.StringIO(encoded.decode(), newline=""))) == rows
