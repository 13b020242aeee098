"""``spanrun.autolog()``: instrument LLM libraries and route their spans into runs (and OTLP).

What ``autolog()`` sets up, once per process however often it is called:

- a TracerProvider: the user's own when the global one is an SDK ``TracerProvider``, otherwise a
  new one, installed as the global provider when none is set (as logfire's ``configure`` does),
  so the program's own spans (``trace.get_tracer(...)``) and other instrumentations join the
  same traces. Its resource honours ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES`` (service
  name defaults to the program name). A provider the user sets later is refused by
  OpenTelemetry (one global per process): spanrun says so in a warning;
- one span processor holding: the run-stamping processor, a bounded batch processor feeding
  :class:`~spanrun.exporters.RunExporter` (through ``ServerSpanExporter``: with the tracking
  URI on a ``spanrun server`` each batch goes there as one OTLP request, mapped by the server;
  ``server_transport="rest"`` maps here), and, when asked, the official OTLP exporter;
- the instrumentors of every supported library that is installed (``openai``, ``langchain``);
  they patch the library now or when it is imported later;
- a flush hook that ``end_run()`` calls, and an exit hook that flushes spans (bounded time),
  then ends the session run.

OTLP: with ``otlp_endpoint=`` (a base URL like ``OTEL_EXPORTER_OTLP_ENDPOINT``: for HTTP,
``/v1/traces`` is appended), or with ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set when spanrun created the provider (a provider of the
user's is assumed to export already). The protocol is ``otlp_protocol``, else
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``/``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``http/protobuf``;
``grpc`` selects the gRPC exporter. Every other ``OTEL_EXPORTER_OTLP_*`` setting (headers,
timeout, compression, certificates) is read by the official exporter itself.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from spanrun.core.fork import on_fork
from spanrun.core.notices import notice
from spanrun.core.semconv import GEN_AI_OPERATION_NAME, SPANRUN_RUN_ID
from spanrun.errors import InvalidInputError, MissingDependencyError
from spanrun.exporters import (
    RUN_MODES,
    BoundedBatchSpanProcessor,
    PricesArg,
    PriceTable,
    RunExporter,
    RunMode,
    RunStampingProcessor,
    ServerSpanExporter,
    program_name,
    transport_setting,
)

if TYPE_CHECKING:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcSpanExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

__all__ = ["LIBRARIES", "autolog", "flush", "get_run_exporter", "tracer_provider"]

_log = logging.getLogger("spanrun.autolog")

# library name -> (module whose presence means "installed", instrumentor module, class)
LIBRARIES: dict[str, tuple[str, str, str]] = {
    "openai": ("openai", "spanrun.instrumentation.openai", "OpenAIInstrumentor"),
    "langchain": ("langchain_core", "spanrun.instrumentation.langchain", "LangChainInstrumentor"),
}
_EXIT_FLUSH_TIMEOUT_MS = 25_000
_EXIT_TIMEOUT_S = 30.0
_END_RUN_FLUSH_TIMEOUT_MS = 30_000


class _SpanrunProcessor(SpanProcessor):
    """The one processor autolog adds to a provider; its parts can be swapped or switched off.

    ``on_first_llm_span`` is called once, with the first LLM span that ends (the span's run
    stamp tells where it goes)."""

    def __init__(self) -> None:
        self.parts: tuple[SpanProcessor, ...] = ()
        self.on_first_llm_span: Callable[[ReadableSpan], None] | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for part in self.parts:
            try:
                part.on_start(span, parent_context)
            except Exception:
                _log.debug("spanrun: span processor failed on start", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        for part in self.parts:
            try:
                part.on_end(span)
            except Exception:
                _log.debug("spanrun: span processor failed on end", exc_info=True)
        announce = self.on_first_llm_span
        if announce is not None and span.attributes and GEN_AI_OPERATION_NAME in span.attributes:
            self.on_first_llm_span = None
            try:
                announce(span)
            except Exception:
                _log.debug("spanrun: could not say where runs go", exc_info=True)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all([part.force_flush(timeout_millis) for part in self.parts])

    def shutdown(self) -> None:
        for part in self.parts:
            part.shutdown()


class _Autolog:
    """Process-wide autolog state (module functions below are its bound methods)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.provider: TracerProvider | None = None
        self.processor = _SpanrunProcessor()
        self.exporter: RunExporter | None = None
        self.sender: ServerSpanExporter | None = None
        self.batch: BoundedBatchSpanProcessor | None = None
        self.otlp: SpanProcessor | None = None
        self._otlp_key: tuple[str | None, str, tuple[tuple[str, str], ...]] | None = None
        self.instrumentors: dict[str, Any] = {}
        self._content: dict[str, bool | None] = {}
        self._hooks_installed = False
        self._created_provider = False
        self._mp_exit_registered = False
        self._warned_disabled = False
        self._announced = False
        on_fork(self._before_fork, before=True)

    # -- public ------------------------------------------------------------------------------
    def autolog(
        self,
        disable: bool = False,
        log_content: bool | None = None,
        run_mode: RunMode = "session",
        prices: PricesArg = None,
        otlp_endpoint: str | None = None,
        otlp_protocol: str | None = None,
        otlp_headers: Mapping[str, str] | None = None,
        tracer_provider: TracerProvider | None = None,
        silent: bool = False,
        max_queue_size: int = 2_048,
        libraries: Sequence[str] | None = None,
        server_transport: str | None = None,
    ) -> None:
        """Autolog LLM calls into runs: every supported library, now or when imported later.

        Args:
            disable: undo what autolog did (for ``libraries``, or all of them).
            log_content: record prompts and outputs (default: on, unless
                ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false``).
            run_mode: where calls made outside ``start_run`` go: ``"session"`` (one run per
                process, named after the program, ended at exit), ``"trace"`` (one run per root
                trace, named after the root span) or ``"none"`` (traces only). Inside an active
                run every span of the trace goes to that run.
            prices: ``{model: {"input": usd_per_1M_tokens, "output": ...}}`` or a JSON/YAML file
                path; enables ``llm.cost_usd``. Dated model names use their base's price.
            otlp_endpoint: also send spans to this OTLP collector (see the module docs).
            otlp_protocol: ``"http/protobuf"`` (default) or ``"grpc"``.
            otlp_headers: headers for every OTLP request (e.g. ``{"authorization": "Bearer
                ..."}`` for a collector or server that needs a token); default:
                ``OTEL_EXPORTER_OTLP_HEADERS``, read by the official exporter.
            tracer_provider: an SDK TracerProvider to add spanrun's processor to (default: the
                global one if it is an SDK provider, else a private one).
            silent: log setup messages at debug level only.
            max_queue_size: spans held for the store at most; beyond it the oldest are dropped
                and counted (a warning says so).
            libraries: restrict to these libraries (``"openai"``, ``"langchain"``).
            server_transport: with the tracking URI on a ``spanrun server``: ``"otlp"`` sends
                each batch of spans as one OTLP request and the server maps it into runs;
                ``"rest"`` maps here and sends REST export batches. Default:
                ``SPANRUN_AUTOLOG_TRANSPORT``, else ``"otlp"`` (less CPU in the program, see
                ``benchmarks/autolog_server.py``). Other stores (local, a stock
                MLflow server) always map here.

        Raises:
            InvalidInputError: an unknown run mode, library, protocol, transport or a bad price
                table.
            MissingDependencyError: ``otlp_endpoint`` given without the ``otlp`` extra.
        """
        names = tuple(libraries) if libraries is not None else tuple(LIBRARIES)
        for name in names:
            if name not in LIBRARIES:
                raise InvalidInputError(
                    f"unknown library {name!r} for autolog; supported: {sorted(LIBRARIES)}"
                )
        with self._lock:
            if disable:
                self._disable(names, whole=libraries is None)
                return
            if run_mode not in RUN_MODES:
                raise InvalidInputError(f"run_mode must be one of {RUN_MODES}, got {run_mode!r}")
            price_table = PriceTable.load(prices)
            transport = transport_setting(server_transport)
            self._setup_pipeline(tracer_provider, run_mode, price_table, max_queue_size, silent)
            assert self.sender is not None
            self.sender.transport = transport
            self._setup_otlp(otlp_endpoint, otlp_protocol, otlp_headers, silent)
            for name in names:
                self._instrument(name, log_content, silent)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Store (and send over OTLP) every span finished so far.

        Returns False when that took longer than ``timeout_s`` (the rest is still queued).
        """
        parts = self.processor.parts
        if not parts:
            return True
        try:
            return self.processor.force_flush(int(timeout_s * 1000))
        except Exception:
            _log.warning("spanrun: flushing spans failed", exc_info=True)
            return False

    def get_run_exporter(self) -> RunExporter | None:
        """The exporter autolog feeds (None before ``autolog()``)."""
        return self.exporter

    def tracer_provider(self) -> TracerProvider:
        """The provider autolog's processor is on; set up (without instrumenting any library)
        when ``autolog()`` has not been called, for spanrun's manual spans."""
        with self._lock:
            if self.provider is None or not self.processor.parts:  # never set up, or disabled
                self.autolog(libraries=(), silent=True)
            assert self.provider is not None
            return self.provider

    # -- setup -------------------------------------------------------------------------------
    def _setup_pipeline(
        self,
        tracer_provider: TracerProvider | None,
        run_mode: RunMode,
        prices: PriceTable,
        max_queue_size: int,
        silent: bool,
    ) -> None:
        if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
            raise InvalidInputError("tracer_provider must be an OpenTelemetry SDK TracerProvider")
        provider = tracer_provider or self.provider or _sdk_global_provider()
        created = provider is None
        if provider is None:
            provider = TracerProvider(resource=_resource(), shutdown_on_exit=False)
            _install_globally(provider)
        if provider is not self.provider:
            if self.provider is not None:
                # Moving to another provider: stop feeding the old one.
                self._flush_store()
                self.processor.parts = ()
                self.processor = _SpanrunProcessor()
                for inst in self.instrumentors.values():
                    _safe(inst.uninstrument)
                self.instrumentors.clear()
            provider.add_span_processor(self.processor)
            self.provider = provider
            self._created_provider = created
        if self.exporter is None or self.sender is None:
            self.exporter = RunExporter(run_mode=run_mode, prices=prices)
            self.sender = ServerSpanExporter(self.exporter)
            self.batch = BoundedBatchSpanProcessor(self.sender, max_queue_size=max_queue_size)
        else:
            # Reconfigure in place (idempotent autolog, new settings win).
            self._flush_store()
            self.exporter.run_mode = run_mode
            self.exporter.prices = prices
            if self.batch is not None:
                self.batch.max_queue_size = max_queue_size
        self._set_parts()
        if not silent and not self._announced:
            self._announced = True
            self.processor.on_first_llm_span = self._where_runs_go
        if not self._hooks_installed:
            from spanrun.tracking import add_flush_hook

            add_flush_hook(self._flush_for_end_run)
            atexit.register(self._at_exit)
            self._hooks_installed = True
            self._before_fork()
        (_log.debug if silent else _log.info)(
            "spanrun autolog: run_mode=%s, store writes off the hot path", run_mode
        )
        if (
            os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
            and not self._warned_disabled
        ):
            self._warned_disabled = True
            _log.warning(
                "spanrun: OTEL_SDK_DISABLED=true turns OpenTelemetry's SDK off: no spans are "
                "recorded, so autolog logs no LLM calls into runs and no traces. Unset it to "
                "autolog (the fluent logging API works either way)."
            )

    def _where_runs_go(self, span: ReadableSpan) -> None:
        """One line, at the first LLM call: the store, the run, and how to look at them."""
        from spanrun.tracking import get_tracking_uri

        uri = get_tracking_uri()
        run_id = (span.attributes or {}).get(SPANRUN_RUN_ID)
        mode = self.exporter.run_mode if self.exporter is not None else "session"
        if run_id:
            where = f"run {run_id}"
        elif mode == "none":
            where = "traces only (run_mode='none')"
        else:
            where = "the session run of this program" if mode == "session" else "a run per trace"
        if uri.startswith(("http://", "https://")):
            look = f"open {uri.rstrip('/')}/"
        else:
            look = "run `spanrun ui` (http://127.0.0.1:5000) or `spanrun runs list`"
        notice(f"spanrun: autolog records LLM calls into {where} at {uri}; to look, {look}", _log)

    def _set_parts(self) -> None:
        parts: list[SpanProcessor] = [RunStampingProcessor()]
        if self.batch is not None:
            parts.append(self.batch)
        if self.otlp is not None:
            parts.append(self.otlp)
        self.processor.parts = tuple(parts)

    def _setup_otlp(
        self,
        endpoint: str | None,
        protocol: str | None,
        headers: Mapping[str, str] | None,
        silent: bool,
    ) -> None:
        env_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        if endpoint is None and not (env_endpoint and self._own_provider()):
            return
        protocol = (
            (
                protocol
                or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            )
            .strip()
            .lower()
        )
        if protocol not in ("grpc", "http/protobuf", "http"):
            raise InvalidInputError(
                f"OTLP protocol must be 'http/protobuf' or 'grpc', got {protocol!r}"
            )
        header_items = tuple(sorted((str(k), str(v)) for k, v in (headers or {}).items()))
        key = (endpoint, protocol, header_items)
        if key == self._otlp_key:
            return
        try:
            exporter = _otlp_exporter(endpoint, protocol, dict(header_items) or None)
        except MissingDependencyError:
            if endpoint is not None:
                raise
            _log.warning(
                "spanrun: OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp is "
                "not installed (pip install 'spanrun[otlp]'); spans go to the store only"
            )
            return
        old, self.otlp = self.otlp, BatchSpanProcessor(exporter)
        self._otlp_key = key
        self._set_parts()
        if old is not None:
            threading.Thread(target=_safe, args=(old.shutdown,), daemon=True).start()
        (_log.debug if silent else _log.info)(
            "spanrun autolog: spans also go to OTLP (%s) %s", protocol, endpoint or env_endpoint
        )

    def _own_provider(self) -> bool:
        return self.provider is not None and self._created_provider

    def _instrument(self, name: str, log_content: bool | None, silent: bool) -> None:
        module_name, inst_module, class_name = LIBRARIES[name]
        current = self.instrumentors.get(name)
        if current is not None:
            if self._content.get(name) == log_content:
                return  # idempotent
            _safe(current.uninstrument)
            self.instrumentors.pop(name, None)
        if importlib.util.find_spec(module_name) is None:
            (_log.debug if silent else _log.info)("spanrun autolog: %s is not installed", name)
            return
        try:
            cls = getattr(importlib.import_module(inst_module), class_name)
        except (ImportError, AttributeError) as exc:
            _log.warning("spanrun autolog: cannot load the %s instrumentation: %s", name, exc)
            return
        instrumentor = cls()
        try:
            instrumentor.instrument(tracer_provider=self.provider, log_content=log_content)
        except Exception:
            # A broken instrumentation costs telemetry, never the user's program.
            _log.warning("spanrun autolog: could not instrument %s", name, exc_info=True)
            return
        self.instrumentors[name] = instrumentor
        self._content[name] = log_content

    def _disable(self, names: Sequence[str], whole: bool) -> None:
        for name in names:
            inst = self.instrumentors.pop(name, None)
            if inst is not None:
                _safe(inst.uninstrument)
            self._content.pop(name, None)
        if whole or not self.instrumentors:
            # Nothing is instrumented any more: flush and stop feeding the processors.
            self._flush_store()
            self._finish_runs()
            self.processor.parts = ()
            if self.otlp is not None:
                # In the background: the official exporter may retry an unreachable collector
                # for its whole timeout, and disable() must return promptly.
                threading.Thread(target=_safe, args=(self.otlp.shutdown,), daemon=True).start()
                self.otlp, self._otlp_key = None, None
            if self._hooks_installed:
                from spanrun.tracking import remove_flush_hook

                remove_flush_hook(self._flush_for_end_run)
                atexit.unregister(self._at_exit)
                self._hooks_installed = False

    # -- hooks -------------------------------------------------------------------------------
    def _before_fork(self) -> None:
        """Have children started by multiprocessing run the exit work too.

        A child it forks leaves with ``os._exit``, so ``atexit`` never runs there; its exit
        function runs its finalizers instead. They are registered from multiprocessing's
        after-fork hook, since the child clears the finalizers it inherited. (Its trace data is
        safe regardless: children write each finished trace at once, see
        ``BoundedBatchSpanProcessor``; this ends the child's session run and flushes the rest.)
        """
        mp_util = sys.modules.get("multiprocessing.util")
        if self._mp_exit_registered or mp_util is None or not self._hooks_installed:
            return
        try:
            mp_util.register_after_fork(self, _Autolog._register_child_exit)
            self._mp_exit_registered = True
        except Exception:
            _log.debug("spanrun: cannot hook multiprocessing's child exit", exc_info=True)

    def _register_child_exit(self) -> None:
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None and self._hooks_installed:
            mp_util.Finalize(None, self._at_exit, exitpriority=10)

    def _flush_store(self) -> None:
        # Only the store pipeline: a slow or unreachable collector must not delay the caller.
        if self.processor.parts and self.batch is not None:
            self.batch.force_flush(_END_RUN_FLUSH_TIMEOUT_MS)

    def _flush_for_end_run(self) -> None:
        self._flush_store()

    def _finish_runs(self) -> None:
        if self.sender is not None:
            self.sender.finish_open_runs()

    def _at_exit(self) -> None:
        """Store what is queued and end the session run, within a bounded time.

        The work runs on a helper thread: a store that is locked or down must not hold the
        program's exit for longer than ``_EXIT_TIMEOUT_S`` (what is not stored by then is lost,
        and the log says so).
        """
        done = threading.Event()

        def store_the_rest() -> None:
            try:
                if self.batch is not None and self.processor.parts:
                    self.batch.force_flush(_EXIT_FLUSH_TIMEOUT_MS)
                self._finish_runs()
            except Exception:
                _log.warning("spanrun: storing spans at exit failed", exc_info=True)
            finally:
                done.set()

        threading.Thread(target=store_the_rest, name="spanrun-exit", daemon=True).start()
        if not done.wait(_EXIT_TIMEOUT_S):
            _log.warning(
                "spanrun: the store did not take the last spans within %.0f s of exit; "
                "they are lost (your program's results are not affected)",
                _EXIT_TIMEOUT_S,
            )
        if self.otlp is not None:
            _safe(self.otlp.shutdown)  # bounded by the OTLP exporter's own timeout
        if self.batch is not None and self.batch.dropped_spans:
            _log.warning(
                "spanrun: %d spans were dropped in this process (queue full)",
                self.batch.dropped_spans,
            )


def _safe(fn: Any) -> None:
    try:
        fn()
    except Exception:
        _log.debug("spanrun: cleanup step failed", exc_info=True)


class _LateProviderWarning(logging.Filter):
    """Explains OpenTelemetry's "Overriding of current TracerProvider is not allowed" when the
    provider refused is the user's, set after autolog installed its own."""

    def __init__(self, provider: TracerProvider) -> None:
        super().__init__()
        self.provider = provider

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.getMessage().startswith("Overriding of current TracerProvider")
            and trace.get_tracer_provider() is self.provider
        ):
            _log.warning(
                "spanrun: spanrun.autolog() had already installed the global "
                "TracerProvider, so OpenTelemetry kept it and ignored the one set now: its "
                "span processors and exporters get no spans. Set your provider before "
                "autolog() (spanrun then adds its processor to yours) or pass it as "
                "autolog(tracer_provider=...)."
            )
        return True


def _install_globally(provider: TracerProvider) -> None:
    """Make ``provider`` the global TracerProvider when none is set (a no-op otherwise)."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return  # set already (a non-SDK provider: spanrun's stays private)
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is provider:
        otel_logger = logging.getLogger(trace.__name__)
        for old in [f for f in otel_logger.filters if isinstance(f, _LateProviderWarning)]:
            otel_logger.removeFilter(old)
        otel_logger.addFilter(_LateProviderWarning(provider))


def _sdk_global_provider() -> TracerProvider | None:
    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


def _resource() -> Resource:
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    # Resource.create() reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; explicit attributes
    # would override them, so the program name is only the fallback.
    return Resource.create({} if named else {"service.name": program_name()})


def _otlp_exporter(
    endpoint: str | None, protocol: str, headers: dict[str, str] | None = None
) -> SpanExporter:
    """The official OTLP span exporter; only what the user passed is passed on."""
    exporter_class: type[GrpcSpanExporter] | type[HttpSpanExporter]
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as grpc_exporter,
            )

            exporter_class = grpc_exporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as http_exporter,
            )

            exporter_class = http_exporter
    except ImportError as exc:
        raise MissingDependencyError(
            f"OTLP export needs opentelemetry-exporter-otlp: pip install 'spanrun[otlp]' ({exc})"
        ) from None
    given: dict[str, Any] = {}
    if headers:
        # gRPC metadata keys must be lowercase; HTTP headers are case-insensitive anyway.
        given["headers"] = {k.lower(): v for k, v in headers.items()}
    if endpoint is None:
        return exporter_class(**given)
    if protocol != "grpc" and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return exporter_class(endpoint=endpoint, **given)


_state = _Autolog()
autolog = _state.autolog
flush = _state.flush
get_run_exporter = _state.get_run_exporter
tracer_provider = _state.tracer_provider
