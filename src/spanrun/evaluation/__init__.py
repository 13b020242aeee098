"""Evaluation: ``spanrun.evaluate`` and its metrics (MLflow's ``mlflow.evaluate`` semantics).

``evaluate`` runs a model (an OpenAI model spec's URI, a function of a DataFrame, a LangChain
runnable) or takes a predictions column, computes the built-in metrics of the model type and
the extra metrics, and logs aggregates and a results table into a run. ``log_openai_model``
and ``load_model`` write and read OpenAI model specs (``spanrun.openai.log_model``,
``spanrun.pyfunc.load_model``).
"""

from spanrun.evaluation._builtin import (
    MODEL_TYPES,
    ari_grade_level,
    builtin_metrics,
    exact_match,
    flesch_kincaid_grade_level,
    latency,
    rouge1,
    rouge2,
    rougeL,
    rougeLsum,
    token_count,
    toxicity,
)
from spanrun.evaluation._evaluate import (
    EVAL_TABLE,
    EvaluationArtifact,
    EvaluationResult,
    evaluate,
)
from spanrun.evaluation._judge_limit import (
    DEFAULT_MAX_IN_FLIGHT,
    INITIAL_IN_FLIGHT,
    MAX_IN_FLIGHT_ENV,
    JudgeLimit,
    Outcome,
    Slot,
    current_judge_limit,
)
from spanrun.evaluation._metric import (
    EvaluationMetric,
    MetricValue,
    make_metric,
    standard_aggregations,
)
from spanrun.evaluation._openai_model import OpenAIModel, load_model
from spanrun.evaluation._openai_spec import ModelInfo, log_openai_model, read_spec, task_name
from spanrun.evaluation._rows import RowsInterrupted

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "EVAL_TABLE",
    "INITIAL_IN_FLIGHT",
    "MAX_IN_FLIGHT_ENV",
    "MODEL_TYPES",
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "JudgeLimit",
    "MetricValue",
    "ModelInfo",
    "OpenAIModel",
    "Outcome",
    "RowsInterrupted",
    "Slot",
    "ari_grade_level",
    "builtin_metrics",
    "current_judge_limit",
    "evaluate",
    "exact_match",
    "flesch_kincaid_grade_level",
    "latency",
    "load_model",
    "log_openai_model",
    "make_metric",
    "read_spec",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "standard_aggregations",
    "task_name",
    "token_count",
    "toxicity",
]
