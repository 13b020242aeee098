"""Artifacts through the fluent API and the client: text, dicts, files, images, tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import spanrun
from spanrun.errors import InvalidInputError


def _read(run_id: str, path: str, tmp_path: Path) -> bytes:
    local = spanrun.SpanrunClient().download_artifacts(run_id, path, str(tmp_path / "dl"))
    return Path(local).read_bytes()


def test_text_and_dicts(tmp_path: Path) -> None:
    with spanrun.start_run() as run:
        spanrun.log_text("héllo\n", "notes/readme.txt")
        spanrun.log_dict({"b": [1, 2], "a": "x"}, "config.json")
        spanrun.log_dict({"model": "gpt", "n": 3}, "conf/params.yaml")
        uri = spanrun.get_artifact_uri()
        assert spanrun.get_artifact_uri("config.json") == uri.rstrip("/") + "/config.json"
    run_id = run.info.run_id
    assert _read(run_id, "notes/readme.txt", tmp_path).decode() == "héllo\n"
    assert json.loads(_read(run_id, "config.json", tmp_path)) == {"b": [1, 2], "a": "x"}
    assert yaml.safe_load(_read(run_id, "conf/params.yaml", tmp_path)) == {"model": "gpt", "n": 3}
    top = {f.path: f.is_dir for f in spanrun.SpanrunClient().list_artifacts(run_id)}
    assert top == {"notes": True, "config.json": False, "conf": True}
    nested = spanrun.SpanrunClient().list_artifacts(run_id, "notes")
    assert [f.path for f in nested] == ["notes/readme.txt"]


def test_log_dict_rejects_unserializable_values() -> None:
    with spanrun.start_run(), pytest.raises(InvalidInputError, match="serialize"):
        spanrun.log_dict({"x": object()}, "bad.json")
    with spanrun.start_run(), pytest.raises(InvalidInputError, match="str"):
        spanrun.log_text(b"bytes", "x.txt")  # type: ignore[arg-type]


def test_log_artifact_and_artifacts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    with spanrun.start_run() as run:
        spanrun.log_artifact(str(src / "a.txt"))
        spanrun.log_artifact(src / "a.txt", artifact_path="copies")
        spanrun.log_artifacts(str(src), artifact_path="tree")
        with pytest.raises(InvalidInputError, match="not a file"):
            spanrun.log_artifact(str(tmp_path / "missing.txt"))
        with pytest.raises(InvalidInputError, match="not a directory"):
            spanrun.log_artifacts(str(src / "a.txt"))
    run_id = run.info.run_id
    assert _read(run_id, "a.txt", tmp_path) == b"A"
    assert _read(run_id, "copies/a.txt", tmp_path) == b"A"
    assert _read(run_id, "tree/sub/b.txt", tmp_path) == b"B"
    local_dir = spanrun.SpanrunClient().download_artifacts(run_id, "tree", str(tmp_path / "d2"))
    assert (Path(local_dir) / "sub" / "b.txt").read_text() == "B"


def test_images_from_pil_and_numpy(tmp_path: Path) -> None:
    gradient = np.linspace(0, 1, 12, dtype=np.float64).reshape(3, 4)
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    with spanrun.start_run() as run:
        spanrun.log_image(Image.new("RGB", (5, 4), (0, 128, 255)), "pil.png")
        spanrun.log_image(gradient, "gray.png")
        spanrun.log_image(rgb, "rgb.png")
        spanrun.log_image(rgb, key="series", step=3)
        with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
            spanrun.log_image(gradient * 2, "bad.png")
        with pytest.raises(InvalidInputError, match="shape"):
            spanrun.log_image(np.zeros((2, 2, 2)), "bad.png")
        with pytest.raises(InvalidInputError, match="format"):
            spanrun.log_image(rgb, "image.unknownext")
        with pytest.raises(InvalidInputError, match="exactly one"):
            spanrun.log_image(rgb)
        with pytest.raises(InvalidInputError, match="PIL image or a numpy array"):
            spanrun.log_image("not an image", "x.png")
    run_id = run.info.run_id
    pil = Image.open(_save(run_id, "pil.png", tmp_path))
    assert pil.size == (5, 4) and pil.getpixel((0, 0)) == (0, 128, 255)
    gray = np.asarray(Image.open(_save(run_id, "gray.png", tmp_path)))
    assert gray.shape == (3, 4) and gray[0, 0] == 0 and gray[-1, -1] == 255
    rgb_back = np.asarray(Image.open(_save(run_id, "rgb.png", tmp_path)))
    assert tuple(rgb_back[0, 0]) == (255, 0, 0)
    series = spanrun.SpanrunClient().list_artifacts(run_id, "images/series")
    assert len(series) == 1 and series[0].path.startswith("images/series/step_3_")


def _save(run_id: str, path: str, tmp_path: Path) -> str:
    return spanrun.SpanrunClient().download_artifacts(run_id, path, str(tmp_path / path))


def test_log_table_and_load_table_over_runs() -> None:
    import pandas as pd

    spanrun.set_experiment("tables")
    ids = []
    for i in range(2):
        with spanrun.start_run() as run:
            spanrun.log_table({"q": [f"q{i}a", f"q{i}b"], "score": [i, i + 1]}, "eval.json")
            spanrun.log_table(pd.DataFrame({"q": [f"q{i}c"], "score": [9]}), "eval.json")
            ids.append(run.info.run_id)
    table = spanrun.load_table("eval.json", extra_columns=["run_id"])
    assert len(table) == 6
    assert set(table["run_id"]) == set(ids)
    only_first = spanrun.load_table("eval.json", run_ids=[ids[0]])
    assert list(only_first["q"]) == ["q0a", "q0b", "q0c"]
    tag = spanrun.get_run(ids[0]).data.tags["mlflow.loggedArtifacts"]
    assert json.loads(tag) == [{"path": "eval.json", "type": "table"}]
    client = spanrun.SpanrunClient()
    exp_id = spanrun.get_experiment_by_name("tables").experiment_id
    assert len(client.load_table(exp_id, "eval.json")) == 6
