"""Names spanrun writes that several layers must agree on: LLM metrics, prediction files, tags."""

from __future__ import annotations

__all__ = [
    "AUTOLOG_PREDICTION_COLUMNS",
    "CALL_COLUMNS",
    "CALL_METRICS",
    "INPUTS_INDEX",
    "LOGGED_ARTIFACTS_TAG",
    "LOG_PREDICTION_COLUMNS",
    "NOTE_TAG",
    "PARAMS_VARIED_TAG",
    "PARENT_RUN_TAG",
    "PREDICTIONS_FILE",
    "RUN_MODE_TAG",
    "RUN_NAME_TAG",
    "SOURCE_NAME_TAG",
    "SOURCE_TYPE_TAG",
    "USER_TAG",
]

#: The metrics of one LLM call, in the order of a call row (the ``llm_calls`` table): per-call
#: values, then the run's running totals (``llm.total_tokens`` is per call, so the running total
#: of all tokens is ``llm.cumulative_tokens``).
CALL_METRICS: tuple[str, ...] = (
    "llm.input_tokens",
    "llm.output_tokens",
    "llm.total_tokens",
    "llm.latency_ms",
    "llm.time_to_first_token_ms",
    "llm.cost_usd",
    "llm.calls",
    "llm.total_input_tokens",
    "llm.total_output_tokens",
    "llm.cumulative_tokens",
    "llm.total_cost_usd",
)
#: The ``llm_calls`` columns of those metrics (the key without ``llm.``), in the same order.
CALL_COLUMNS: tuple[str, ...] = tuple(key.removeprefix("llm.") for key in CALL_METRICS)

#: A run's prediction file (MLflow's name).
PREDICTIONS_FILE = "llm_predictions.csv"
#: Its columns as ``spanrun.llm.log_predictions`` writes them (MLflow's layout).
LOG_PREDICTION_COLUMNS: tuple[str, ...] = ("inputs", "outputs", "prompts")
#: Its columns as autolog writes them: MLflow's three, then what each call measured.
AUTOLOG_PREDICTION_COLUMNS: tuple[str, ...] = (
    *LOG_PREDICTION_COLUMNS,
    "model",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "trace_id",
    "span_id",
    "timestamp",
    "error",
)
#: Where an autolog prediction row (a list of cells in that order) keeps its input.
INPUTS_INDEX = AUTOLOG_PREDICTION_COLUMNS.index("inputs")

# System tags MLflow's UI and tools read keep MLflow's names; spanrun's own use ``spanrun.``.
RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
PARENT_RUN_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
RUN_MODE_TAG = "spanrun.run_mode"
PARAMS_VARIED_TAG = "spanrun.llm.params_varied"
