"""``spanrun.openai``: ``autolog()`` for OpenAI calls only (MLflow's per-library style), and
``log_model()`` for OpenAI model specs (MLflow's ``mlflow.openai.log_model``).

``autolog`` has the behaviour and arguments of :func:`spanrun.autolog`, limited to OpenAI;
importing this module does not import openai itself (it is patched when imported, now or later).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import TracerProvider

from spanrun._autolog import autolog as _autolog
from spanrun.exporters import PricesArg, RunMode

if TYPE_CHECKING:
    from spanrun.evaluation import ModelInfo

__all__ = ["autolog", "load_model", "log_model"]


def autolog(
    disable: bool = False,
    log_content: bool | None = None,
    run_mode: RunMode = "session",
    prices: PricesArg = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    tracer_provider: TracerProvider | None = None,
    silent: bool = False,
    max_queue_size: int = 2_048,
) -> None:
    """Autolog OpenAI calls into runs; ``disable=True`` stops only OpenAI's autologging.

    See :func:`spanrun.autolog` for the arguments (run modes, prices, OTLP).
    """
    _autolog(
        disable=disable,
        log_content=log_content,
        run_mode=run_mode,
        prices=prices,
        otlp_endpoint=otlp_endpoint,
        otlp_protocol=otlp_protocol,
        tracer_provider=tracer_provider,
        silent=silent,
        max_queue_size=max_queue_size,
        libraries=("openai",),
    )


def log_model(
    model: str,
    task: Any,
    artifact_path: str | None = "model",
    messages: list[dict[str, Any]] | None = None,
    *,
    name: str | None = None,
    **params: Any,
) -> ModelInfo:
    """Log an OpenAI model spec as an artifact of the active run (or of a new run, ended after).

    Args:
        model: the model name, e.g. ``"gpt-4o-mini"``.
        task: ``openai.chat.completions`` (or the legacy ``openai.ChatCompletion``),
            ``openai.completions``, ``openai.embeddings``, or one of the strings
            ``"chat.completions"``, ``"completions"``, ``"embeddings"``.
        artifact_path: the spec's directory in the run (``name=`` is MLflow 3's alias).
        messages: chat message templates; ``{placeholders}`` are filled from each row.
        params: request params kept with the spec (``temperature=0``, ...). Anything that
            looks like a secret (``api_key``, tokens, headers) is dropped with a warning: the
            client reads ``OPENAI_API_KEY`` from the environment when the model runs.

    Returns:
        ModelInfo: ``model_uri`` (``runs:/<run_id>/<artifact_path>``), ``run_id``,
        ``artifact_path``; load it with ``spanrun.pyfunc.load_model`` or evaluate it with
        ``spanrun.evaluate``.
    """
    from spanrun.evaluation import log_openai_model  # pandas and YAML only when used

    return log_openai_model(model, task, artifact_path, messages, name=name, **params)


def load_model(model_uri: str, dst_path: str | None = None) -> dict[str, Any]:
    """The spec logged at ``model_uri`` as a dict (``model``, ``task``, ``messages``, params), as
    MLflow's ``mlflow.openai.load_model``; ``spanrun.pyfunc.load_model`` gives a runnable model."""
    from spanrun.evaluation import read_spec

    spec, _ = read_spec(model_uri, dst_path)
    return spec
