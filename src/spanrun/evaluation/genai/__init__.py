"""LLM-as-judge metrics, as MLflow's ``mlflow.metrics.genai`` (also ``spanrun.metrics.genai``).

Built-ins (v1): ``answer_correctness`` and ``answer_similarity`` (need ``targets``),
``faithfulness`` and ``relevance`` (need a ``context`` column), ``answer_relevance``; custom
ones with :func:`make_genai_metric` (definition, rubric, graded examples) or
:func:`make_genai_metric_from_prompt`. The judge is any OpenAI-compatible endpoint
(``model="openai:/gpt-4o-mini"`` with ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``); see
``_judge`` for concurrency, retries and tracing.
"""

from spanrun.evaluation.genai._builtins import (
    answer_correctness,
    answer_relevance,
    answer_similarity,
    faithfulness,
    relevance,
)
from spanrun.evaluation.genai._example import EvaluationExample
from spanrun.evaluation.genai._make import make_genai_metric, make_genai_metric_from_prompt
from spanrun.evaluation.genai._parse import parse_verdict

__all__ = [
    "EvaluationExample",
    "answer_correctness",
    "answer_relevance",
    "answer_similarity",
    "faithfulness",
    "make_genai_metric",
    "make_genai_metric_from_prompt",
    "parse_verdict",
    "relevance",
]
