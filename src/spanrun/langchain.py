"""``spanrun.langchain.autolog()``: autolog LangChain calls only (MLflow's per-library style).

Same behaviour and arguments as :func:`spanrun.autolog`, limited to LangChain; importing this module
does not import langchain itself (it is patched when imported, now or later).

``spanrun.langchain.SpanrunCallbackHandler`` is the callback handler to pass explicitly
(``config={"callbacks": [SpanrunCallbackHandler()]}``); it is loaded on first access because it
needs langchain-core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import TracerProvider

from spanrun._autolog import autolog as _autolog
from spanrun.exporters import PricesArg, RunMode

if TYPE_CHECKING:
    from spanrun.instrumentation.langchain import SpanrunCallbackHandler

__all__ = ["SpanrunCallbackHandler", "autolog"]


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
    """Autolog LangChain calls into runs; ``disable=True`` stops only LangChain's autologging.

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
        libraries=("langchain",),
    )


def __getattr__(name: str) -> Any:
    if name == "SpanrunCallbackHandler":
        from spanrun.instrumentation.langchain import SpanrunCallbackHandler

        return SpanrunCallbackHandler
    raise AttributeError(f"module 'spanrun.langchain' has no attribute {name!r}")
