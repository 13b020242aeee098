"""wrapt wrappers for the OpenAI resource methods (one sync and one async factory).

The user's call always runs exactly as written: our steps before and after it are guarded, the
result (or a transparent proxy of it) is returned, and the user's exception is re-raised as is.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from spanrun.instrumentation._lifecycle import Telemetry, is_suppressed
from spanrun.instrumentation._wrapping import report_internal_error
from spanrun.instrumentation.openai._invocation import OpenAIInvocation, start
from spanrun.instrumentation.openai._operations import Operation
from spanrun.instrumentation.openai._proxies import (
    AsyncRawResponseProxy,
    AsyncStreamProxy,
    RawResponseProxy,
    StreamProxy,
)

__all__ = ["SdkTypes", "SettingsHolder", "async_wrapper", "sync_wrapper"]

# Set while an instrumented call runs, so that SDK methods calling other patched methods
# (old ``beta.chat.completions.parse`` -> ``chat.completions.create``) give one span, not two.
_in_call: ContextVar[bool] = ContextVar("spanrun_openai_in_call", default=False)


class SdkTypes:
    """SDK classes the wrappers recognise, resolved once openai is imported."""

    stream: tuple[type, ...] = ()
    async_stream: tuple[type, ...] = ()
    legacy_raw: tuple[type, ...] = ()
    raw: tuple[type, ...] = ()
    async_raw: tuple[type, ...] = ()


class SettingsHolder:
    """The active settings; ``None`` after uninstrument (a leftover wrapper passes through)."""

    settings: Telemetry | None = None


def _handle(inv: OpenAIInvocation, result: Any) -> Any:
    """Attach the span's ending to whatever the SDK returned; never raises."""
    try:
        if isinstance(result, SdkTypes.stream):
            state = inv.op.stream_state(inv.capture) if inv.op.stream_state else None
            return StreamProxy(result, inv, state)
        if isinstance(result, SdkTypes.async_stream):
            state = inv.op.stream_state(inv.capture) if inv.op.stream_state else None
            return AsyncStreamProxy(result, inv, state)
        if isinstance(result, SdkTypes.legacy_raw):
            if getattr(result, "_stream", False):
                return RawResponseProxy(result, inv, _handle)
            # The body is already read: parse now (the SDK caches it for the user's parse()).
            raw: Any = result
            inv.succeed(raw.parse())
            return result
        if isinstance(result, SdkTypes.raw):
            return RawResponseProxy(result, inv, _handle)
        if isinstance(result, SdkTypes.async_raw):
            return AsyncRawResponseProxy(result, inv, _handle)
        inv.succeed(result)
    except Exception:
        report_internal_error("handling an OpenAI result")
        inv.end()
    return result


def sync_wrapper(holder: SettingsHolder, op: Operation) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        settings = holder.settings
        if settings is None or _in_call.get() or is_suppressed():
            return wrapped(*args, **kwargs)
        inv = start(settings, op, instance, kwargs)
        if inv is None:
            return wrapped(*args, **kwargs)
        token = _in_call.set(True)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            inv.fail(exc)
            raise
        finally:
            _in_call.reset(token)
            inv.detach()
        return _handle(inv, result)

    return wrapper


def async_wrapper(holder: SettingsHolder, op: Operation) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        settings = holder.settings
        if settings is None or _in_call.get() or is_suppressed():
            return await wrapped(*args, **kwargs)
        inv = start(settings, op, instance, kwargs)
        if inv is None:
            return await wrapped(*args, **kwargs)
        token = _in_call.set(True)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            inv.fail(exc)
            raise
        finally:
            _in_call.reset(token)
            inv.detach()
        return _handle(inv, result)

    return wrapper
