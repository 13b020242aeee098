"""Proxies handed back to the user in place of SDK streams and raw responses.

They are ``wrapt.ObjectProxy`` objects, so ``isinstance(s, openai.Stream)`` still holds and every
attribute the proxies do not define reaches the SDK object. State lives in ``_self_``
attributes. The span ends exactly once: on exhaustion, error, ``close()``, context exit,
``parse()`` of a raw response, or when an abandoned object is garbage-collected.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

import wrapt

from spanrun.instrumentation._wrapping import report_internal_error
from spanrun.instrumentation.openai._invocation import OpenAIInvocation

__all__ = ["AsyncRawResponseProxy", "AsyncStreamProxy", "RawResponseProxy", "StreamProxy"]

if TYPE_CHECKING:  # generic in wrapt 2's stubs; wrapt 1 (still supported) is not subscriptable
    _ObjectProxy = wrapt.ObjectProxy[Any]
else:
    _ObjectProxy = wrapt.ObjectProxy


class _StreamProxyBase(_ObjectProxy):
    """What the sync and async stream proxies share: per-chunk recording and ending once."""

    def __init__(self, stream: Any, inv: OpenAIInvocation, state: Any) -> None:
        super().__init__(stream)
        self._self_inv = inv
        self._self_state = state
        self._self_first = True

    def _self_record(self, chunk: Any) -> None:
        if self._self_first:
            self._self_first = False
            self._self_inv.chunk_seen()
        state = self._self_state
        if state is not None:
            try:
                state.add(chunk)
            except Exception:
                # Stop accumulating (one log line, not one per chunk); the span still ends
                # with what was recorded.
                self._self_state = None
                report_internal_error("reading an OpenAI stream chunk")

    def _self_exit(self, exc: BaseException | None) -> None:
        if exc is not None:
            self._self_inv.fail_stream(exc, self._self_state)
        else:
            self._self_inv.finish_stream(self._self_state)

    def __del__(self) -> None:
        inv = getattr(self, "_self_inv", None)
        if inv is not None and not inv.ended:
            inv.finish_stream(getattr(self, "_self_state", None))


class StreamProxy(_StreamProxyBase):
    """Wraps ``openai.Stream``: the user sees identical chunks."""

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            self._self_inv.finish_stream(self._self_state)
            raise
        except BaseException as exc:
            self._self_inv.fail_stream(exc, self._self_state)
            raise
        self._self_record(chunk)
        return chunk

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_inv.finish_stream(self._self_state)

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_exit(exc)


class AsyncStreamProxy(_StreamProxyBase):
    """Wraps ``openai.AsyncStream``."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_inv.finish_stream(self._self_state)
            raise
        except BaseException as exc:
            self._self_inv.fail_stream(exc, self._self_state)
            raise
        self._self_record(chunk)
        return chunk

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_inv.finish_stream(self._self_state)

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_exit(exc)


class _RawResponseProxyBase(_ObjectProxy):
    """What the sync and async raw-response proxies share: the span follows ``parse()``."""

    def __init__(self, raw: Any, inv: OpenAIInvocation, handle: Any) -> None:
        super().__init__(raw)
        self._self_inv = inv
        self._self_handle = handle
        self._self_stream: Any = None

    def _self_parsed(self, result: Any) -> Any:
        inv = self._self_inv
        if inv.ended:
            return result
        handled = self._self_handle(inv, result)
        if isinstance(handled, (StreamProxy, AsyncStreamProxy)):
            self._self_stream = handled
        return handled

    def __del__(self) -> None:
        _end_dropped(self)


class RawResponseProxy(_RawResponseProxyBase):
    """Wraps ``LegacyAPIResponse``/``APIResponse``: the span follows what ``parse()`` returns."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = self.__wrapped__.parse(*args, **kwargs)
        except BaseException as exc:
            self._self_inv.fail(exc)
            raise
        return self._self_parsed(result)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            _end_closed(self)


class AsyncRawResponseProxy(_RawResponseProxyBase):
    """Wraps ``AsyncAPIResponse`` (``parse`` and ``close`` are coroutines)."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = await self.__wrapped__.parse(*args, **kwargs)
        except BaseException as exc:
            self._self_inv.fail(exc)
            raise
        return self._self_parsed(result)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            _end_closed(self)


def _end_closed(proxy: Any) -> None:
    """The raw response was closed: its stream (if parsed) can yield no more; end the span."""
    inv = getattr(proxy, "_self_inv", None)
    if inv is not None and not inv.ended:
        stream = getattr(proxy, "_self_stream", None)
        inv.finish_stream(stream._self_state if stream is not None else None)


def _end_dropped(proxy: Any) -> None:
    """Garbage-collected: end the span unless a stream from parse() now owns it."""
    inv = getattr(proxy, "_self_inv", None)
    if inv is not None and not inv.ended and getattr(proxy, "_self_stream", None) is None:
        inv.finish_stream(None)
