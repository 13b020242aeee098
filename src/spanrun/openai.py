"""``spanrun.openai.autolog()``: autolog OpenAI calls only (MLflow's per-library style).

Same behaviour and arguments as :func:`spanrun.autolog`, limited to OpenAI; importing this module
does not import openai itself (it is patched when imported, now or later).
"""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from spanrun._autolog import autolog as _autolog
from spanrun.exporters import PricesArg, RunMode

__all__ = ["autolog"]


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
