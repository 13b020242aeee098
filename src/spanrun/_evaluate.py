"""``spanrun.evaluate``: MLflow's ``mlflow.evaluate``, with the model's calls autologged.

When a model is evaluated and ``spanrun.autolog()`` is off, evaluate turns it on (OpenAI and
LangChain, quietly) for its own duration and off again afterwards, as MLflow's evaluate enables
tracing for the evaluated model: every call lands in the evaluation's run (per-call metrics,
prediction rows, traces). When autolog is on, its settings are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from spanrun import _autolog
from spanrun.evaluation import EvaluationMetric, EvaluationResult
from spanrun.evaluation import evaluate as _evaluate

__all__ = ["evaluate"]


@contextmanager
def _autologged_calls(enabled: bool) -> Iterator[None]:
    state = _autolog._state
    if not enabled or state.instrumentors:
        yield
        return
    state.autolog(silent=True)
    try:
        yield
    finally:
        state.autolog(disable=True)


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    model_type: str | None = None,
    targets: str | None = None,
    predictions: str | None = None,
    dataset_path: str | None = None,
    feature_names: Sequence[str] | None = None,
    evaluators: Any = None,
    evaluator_config: Mapping[str, Any] | None = None,
    extra_metrics: Sequence[EvaluationMetric] | None = None,
    custom_artifacts: Sequence[Callable[..., Any]] | None = None,
    env_manager: str = "local",
    model_config: Mapping[str, Any] | None = None,
    inference_params: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Evaluate a model on ``data`` and log the results into the active run (or a new run).

    Args:
        model: a model URI (``runs:/<run_id>/model`` from ``spanrun.openai.log_model``, or a
            spec directory), a loaded ``spanrun.pyfunc`` model, a function taking a DataFrame
            (returning a list, Series or one-column DataFrame), a LangChain runnable (invoked
            per row), or None with ``predictions=``.
        data: a DataFrame, a list of dicts (one per row) or a dict of columns.
        model_type: ``"question-answering"``, ``"text"``, ``"text-summarization"`` or None:
            picks MLflow's built-in metrics.
        targets: the column with the expected outputs.
        predictions: with no model, the column holding the outputs to score; with a model
            returning several columns, the one to score.
        feature_names: the model's input columns (default: all but targets/predictions).
        evaluator_config: ``col_mapping`` (metric parameter -> column), ``metric_prefix``, and
            values for metric parameters of those names.
        extra_metrics: more metrics (``spanrun.metrics.make_metric``, ``spanrun.metrics.*``).
        custom_artifacts: functions ``(eval_df, metrics, artifacts_dir) -> {name: artifact}``.
        model_config: request params overriding a model spec's.
        inference_params: request params for every call of a model spec.
        dataset_path, evaluators, env_manager: MLflow's; only the defaults are supported.

    Returns:
        EvaluationResult: ``.metrics`` (``ari_grade_level/v1/mean``, ...) and
        ``.tables["eval_results_table"]`` (also logged as ``eval_results_table.json``).

    Rows run concurrently for model specs and runnables (10 at once, as MLflow's OpenAI
    flavor), in order; a function model gets the whole DataFrame. Ctrl-C while the model runs
    scores and logs the rows done, then raises KeyboardInterrupt. A metric needing a column
    the data lacks is an InvalidInputError before any model call; a metric that raises is left
    out with a warning.
    """
    with _autologged_calls(model is not None):
        return _evaluate(
            model,
            data,
            model_type=model_type,
            targets=targets,
            predictions=predictions,
            dataset_path=dataset_path,
            feature_names=feature_names,
            evaluators=evaluators,
            evaluator_config=evaluator_config,
            extra_metrics=extra_metrics,
            custom_artifacts=custom_artifacts,
            env_manager=env_manager,
            model_config=model_config,
            inference_params=inference_params,
        )
