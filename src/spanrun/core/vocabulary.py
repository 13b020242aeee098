"""Names spanrun writes that several layers must agree on: LLM metrics, prediction files, tags."""

from __future__ import annotations

__all__ = [
    "AUTOLOG_PREDICTION_COLUMNS",
    "CALL_COLUMNS",
    "CALL_METRICS",
    "DATASET_CONTEXT_TAG",
    "INPUTS_INDEX",
    "LOGGED_ARTIFACTS_TAG",
    "LOG_PREDICTION_COLUMNS",
    "NOTE_TAG",
    "PARAMS_VARIED_TAG",
    "PARENT_RUN_TAG",
    "PREDICTIONS_FILE",
    "RENAMED_CALL_METRICS",
    "RUN_MODE_TAG",
    "RUN_NAME_TAG",
    "SOURCE_NAME_TAG",
    "SOURCE_TYPE_TAG",
    "USER_TAG",
]

#: The metrics of one LLM call, in the order of a call row (the ``llm_calls`` table): the call's
#: own values, then the run's running totals, all under one prefix (``llm.cumulative_*``;
#: ``llm.calls`` counts the calls so far).
CALL_METRICS: tuple[str, ...] = (
    "llm.input_tokens",
    "llm.output_tokens",
    "llm.total_tokens",
    "llm.latency_ms",
    "llm.time_to_first_token_ms",
    "llm.cost_usd",
    "llm.calls",
    "llm.cumulative_input_tokens",
    "llm.cumulative_output_tokens",
    "llm.cumulative_tokens",
    "llm.cumulative_cost_usd",
)
#: The ``llm_calls`` columns of those metrics, in the same order (the table keeps the names of
#: its first version: the running totals were ``llm.total_input_tokens``, ... until 0.1's
#: migration 0003 renamed them).
CALL_COLUMNS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "latency_ms",
    "time_to_first_token_ms",
    "cost_usd",
    "calls",
    "total_input_tokens",
    "total_output_tokens",
    "cumulative_tokens",
    "total_cost_usd",
)
#: The running totals' earlier names -> their names now (migration 0003 renames stored ones).
RENAMED_CALL_METRICS: dict[str, str] = {
    "llm.total_input_tokens": "llm.cumulative_input_tokens",
    "llm.total_output_tokens": "llm.cumulative_output_tokens",
    "llm.total_cost_usd": "llm.cumulative_cost_usd",
}

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

#: The input tag of a run's dataset input that holds ``log_input(context=...)`` (MLflow's name).
DATASET_CONTEXT_TAG = "mlflow.data.context"
