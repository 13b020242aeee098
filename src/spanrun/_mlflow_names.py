"""MLflow's public names that spanrun does not offer, and what to use instead.

``import spanrun as mlflow`` ports MLflow tracking code by changing the import; a name spanrun
does not have must say so clearly (``spanrun.errors.UnsupportedError``, also an AttributeError
so ``hasattr`` keeps working) rather than fail as a bare AttributeError deep in the program.
"""

from __future__ import annotations

from spanrun.errors import UnsupportedError

__all__ = ["MLFLOW_ONLY", "unsupported"]

_REGISTRY = (
    "spanrun has no model registry; log the model's files with spanrun.log_artifact(s) and "
    "keep using MLflow's registry for deployment"
)
_PROMPTS = "spanrun has no prompt registry; log prompt templates with spanrun.log_text/log_dict"
_ASSESSMENTS = "spanrun has no trace assessments yet; log scores with spanrun.log_metric(s)"
_WORKSPACES = "spanrun has no workspaces; use one tracking URI (spanrun server) per team"
_SYSTEM_METRICS = "spanrun does not sample system metrics; log them with spanrun.log_metric(s)"
_LOGGED_MODELS = "spanrun has no logged-model entities; log model files as run artifacts"
_FLAVOR = (
    "spanrun has no model flavor for {name}; spanrun.autolog() records OpenAI and LangChain "
    "calls, and spanrun.log_artifact(s) logs model files"
)

#: name -> what to use instead (the message of the UnsupportedError).
MLFLOW_ONLY: dict[str, str] = {
    "ActiveModel": _LOGGED_MODELS,
    "Image": "log images with spanrun.log_image (PIL images and numpy arrays)",
    "MlflowException": "spanrun raises spanrun.errors.SpanrunError and its subclasses",
    "add_trace": "traces are recorded from OpenTelemetry spans: use spanrun.trace/start_span",
    "clear_active_model": _LOGGED_MODELS,
    "create_external_model": _LOGGED_MODELS,
    "create_workspace": _WORKSPACES,
    "delete_assessment": _ASSESSMENTS,
    "delete_logged_model_tag": _LOGGED_MODELS,
    "delete_prompt_alias": _PROMPTS,
    "delete_trace_tag": "not available yet",
    "delete_workspace": _WORKSPACES,
    "disable_system_metrics_logging": _SYSTEM_METRICS,
    "doctor": "run `spanrun --version` and see the README",
    "enable_system_metrics_logging": _SYSTEM_METRICS,
    "finalize_logged_model": _LOGGED_MODELS,
    "flush_artifact_async_logging": "artifacts are written synchronously; nothing to flush",
    "flush_trace_async_logging": "use spanrun.autolog's flush (spanrun._autolog.flush)",
    "gateway": "spanrun has no AI gateway; call your provider's client (it is autologged)",
    "get_active_model_id": _LOGGED_MODELS,
    "get_active_trace_id": "use spanrun.get_current_active_span().trace_id",
    "get_assessment": _ASSESSMENTS,
    "get_logged_model": _LOGGED_MODELS,
    "get_registry_uri": _REGISTRY,
    "get_workspace": _WORKSPACES,
    "import_checkpoints": _LOGGED_MODELS,
    "initialize_logged_model": _LOGGED_MODELS,
    "last_logged_model": _LOGGED_MODELS,
    "list_workspaces": _WORKSPACES,
    "load_prompt": _PROMPTS,
    "log_assessment": _ASSESSMENTS,
    "log_expectation": _ASSESSMENTS,
    "log_feedback": _ASSESSMENTS,
    "log_issue": _ASSESSMENTS,
    "log_model_params": "use spanrun.log_params",
    "log_outputs": "use spanrun.log_table or spanrun.llm.log_predictions",
    "log_stream": "use spanrun.log_text",
    "log_trace": "traces are recorded from OpenTelemetry spans: use spanrun.trace/start_span",
    "login": "spanrun needs no login; set SPANRUN_TRACKING_TOKEN for a spanrun server",
    "override_feedback": _ASSESSMENTS,
    "register_model": _REGISTRY,
    "register_prompt": _PROMPTS,
    "run": "spanrun has no MLflow Projects; run your script and use spanrun.start_run",
    "search_logged_models": _LOGGED_MODELS,
    "search_model_versions": _REGISTRY,
    "search_prompts": _PROMPTS,
    "search_registered_models": _REGISTRY,
    "search_sessions": "use spanrun.search_traces",
    "set_active_model": _LOGGED_MODELS,
    "set_logged_model_tags": _LOGGED_MODELS,
    "set_model_version_tag": _REGISTRY,
    "set_prompt_alias": _PROMPTS,
    "set_registry_uri": _REGISTRY,
    "set_system_metrics_node_id": _SYSTEM_METRICS,
    "set_system_metrics_samples_before_logging": _SYSTEM_METRICS,
    "set_system_metrics_sampling_interval": _SYSTEM_METRICS,
    "set_trace_tag": "use spanrun.update_current_trace(tags=...) while the trace runs",
    "set_workspace": _WORKSPACES,
    "start_span_no_context": "use spanrun.start_span",
    "update_assessment": _ASSESSMENTS,
    "update_workspace": _WORKSPACES,
    "validate_evaluation_results": "not available yet (evaluation is planned)",
    # Modules of MLflow that spanrun does not have.
    "models": _LOGGED_MODELS,
    "projects": "spanrun has no MLflow Projects",
    "deployments": "spanrun has no deployments; call your provider's client",
    "genai": "spanrun's LLM tracking is spanrun.autolog, spanrun.trace and spanrun.llm",
    "tracing": "use spanrun.trace, spanrun.start_span and spanrun.search_traces",
    "client": "use spanrun.MlflowClient (spanrun.SpanrunClient)",
    "exceptions": "use spanrun.errors",
    "environment_variables": "spanrun reads SPANRUN_* variables, else the MLFLOW_* ones",
    "system_metrics": _SYSTEM_METRICS,
}
for _flavor in (
    "anthropic", "autogen", "bedrock", "catboost", "crewai", "diffusers", "dspy", "gemini",
    "groq", "h2o", "haystack", "keras", "lightgbm", "litellm", "llama_index", "mistral", "onnx",
    "optuna", "paddle", "pmdarima", "prophet", "pyspark", "pytorch", "sentence_transformers",
    "shap", "sklearn", "smolagents", "spacy", "spark", "statsmodels", "tensorflow",
    "transformers", "xgboost",
):  # fmt: skip
    MLFLOW_ONLY[_flavor] = _FLAVOR.format(name=_flavor)


def unsupported(name: str) -> AttributeError:
    """The error for ``spanrun.<name>``: an UnsupportedError naming what to use for MLflow's
    names, a plain AttributeError for others."""
    hint = MLFLOW_ONLY.get(name)
    if hint is None:
        return AttributeError(f"module 'spanrun' has no attribute {name!r}")
    return UnsupportedError(f"spanrun has no {name!r} (MLflow's mlflow.{name}): {hint}")
