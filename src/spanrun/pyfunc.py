"""``spanrun.pyfunc``: load a model spec logged with ``spanrun.openai.log_model`` and run it
(MLflow's ``mlflow.pyfunc.load_model(...).predict(...)`` for OpenAI models)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanrun.evaluation import OpenAIModel
from spanrun.evaluation import load_model as _load_model

__all__ = ["PyFuncModel", "load_model"]

PyFuncModel = OpenAIModel


def load_model(
    model_uri: str,
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: Mapping[str, Any] | None = None,
) -> OpenAIModel:
    """Load the OpenAI model spec at ``model_uri``: ``runs:/<run_id>/model``, the artifact's own
    URI, or a local directory (MLflow's openai-flavor layout reads too).

    ``.predict(data)`` takes a DataFrame, a list of dicts, a list of str or a dict, and returns
    one answer per row (one chat completion each, through the ``openai`` client configured by
    ``OPENAI_API_KEY``/``OPENAI_BASE_URL``, 10 at once, in row order). Template placeholders are
    filled from the row's columns; a template with one placeholder takes the single input
    column whatever its name. ``model_config`` overrides the spec's request params.
    """
    return _load_model(model_uri, dst_path=dst_path, model_config=model_config)
