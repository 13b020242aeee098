"""What ``evaluate(model=...)`` accepts, made into one shape: a model URI (an OpenAI spec), a
loaded spec, a LangChain runnable, an object with ``predict``, or a function of a DataFrame."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from spanrun.errors import InvalidInputError
from spanrun.evaluation._openai_model import OpenAIModel, load_model
from spanrun.evaluation._rows import DEFAULT_MAX_WORKERS

__all__ = ["Predictor", "output_value", "resolve_model"]


@dataclass
class Predictor:
    """How to get outputs: ``per_row(frame)`` gives one function per row index (run by the row
    pool, ``max_workers`` at once), or ``whole(frame)`` takes the whole input at once."""

    name: str
    per_row: Callable[[pd.DataFrame], Callable[[int], Any]] | None = None
    whole: Callable[[pd.DataFrame], Any] | None = None
    max_workers: int = 1


def output_value(value: Any) -> Any:
    """A row's output as the table keeps it: a chat message's text, else the value."""
    content = getattr(value, "content", None)
    if content is not None and type(value).__module__.startswith("langchain"):
        return content if isinstance(content, str) else str(content)
    return value


def _is_runnable(model: Any) -> bool:
    try:
        from langchain_core.runnables import Runnable
    except ImportError:
        return False
    return isinstance(model, Runnable)


def _runnable_input(frame: pd.DataFrame, i: int) -> Any:
    # A single input column is the runnable's input (a prompt string for a chat model, as
    # MLflow's langchain flavor passes it); several columns go as a dict of the row.
    row = frame.iloc[i]
    if len(frame.columns) == 1:
        return row.iloc[0]
    return {str(k): v for k, v in row.items()}


def resolve_model(
    model: Any,
    *,
    model_config: Mapping[str, Any] | None = None,
    inference_params: Mapping[str, Any] | None = None,
    row_timing: bool = False,
) -> Predictor:
    """The predictor for ``model``; ``row_timing`` (the latency metric) makes a function model
    run row by row, as MLflow does."""
    if isinstance(model, str):
        model = load_model(model, model_config=model_config)
    elif model_config:
        raise InvalidInputError("model_config applies to a model URI only")
    if isinstance(model, OpenAIModel):
        spec = model

        def spec_rows(frame: pd.DataFrame) -> Callable[[int], Any]:
            args = spec.row_arguments(frame)
            return lambda i: spec.predict_row(args[i], inference_params)

        return Predictor(repr(spec), per_row=spec_rows, max_workers=spec.max_workers)
    if inference_params:
        raise InvalidInputError("inference_params apply to a model URI (an OpenAI spec) only")
    if _is_runnable(model):
        runnable = model

        def runnable_rows(frame: pd.DataFrame) -> Callable[[int], Any]:
            return lambda i: output_value(runnable.invoke(_runnable_input(frame, i)))

        return Predictor(
            type(model).__name__, per_row=runnable_rows, max_workers=DEFAULT_MAX_WORKERS
        )
    predict = getattr(model, "predict", None)
    fn = predict if callable(predict) else model if callable(model) else None
    if fn is None:
        raise InvalidInputError(
            "model must be a model URI (runs:/<run_id>/model), a function taking a DataFrame, a "
            f"LangChain runnable, an object with predict(), or None; got {type(model).__name__}"
        )
    if row_timing:
        return Predictor(
            getattr(fn, "__name__", "model"),
            per_row=lambda frame: lambda i: fn(frame.iloc[[i]]),
            max_workers=1,
        )
    return Predictor(getattr(fn, "__name__", "model"), whole=fn)
