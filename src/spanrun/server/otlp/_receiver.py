"""``OtlpReceiver``: the OTLP trace receiver as a ``spanrun server`` extension."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route

from spanrun.errors import InvalidInputError
from spanrun.exporters import RUN_MODES, PricesArg, PriceTable, RunMode
from spanrun.server._gc import tune_gc_for_serving
from spanrun.server.otlp._http import TracesEndpoint
from spanrun.server.otlp._ingest import Ingest
from spanrun.store import Store

if TYPE_CHECKING:
    from spanrun.server.otlp._grpc import GrpcReceiver

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ENV_VARIABLES", "OtlpReceiver", "receiver_from_environment"]

#: The OTel Collector's own default limit for a request body (20 MiB).
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


class OtlpReceiver:
    """Receives OTLP traces and maps them into runs with the same ``RunExporter`` autolog uses.

    Serves ``POST /v1/traces`` (OTLP/HTTP, protobuf or JSON, gzip or not); gRPC through
    :func:`spanrun.server.otlp.start_grpc_receiver`. Which run a span goes to: the run stamped on
    it (``spanrun.run_id``, as autolog stamps spans inside ``start_run()``), else by
    ``run_mode``: ``"session"`` puts each sender's spans in one run per ``service.name`` (and
    experiment), named after it; ``"trace"`` one run per trace; ``"none"`` keeps traces only.
    The experiment: the span's ``spanrun.experiment_name`` attribute, else the resource's, else
    the request's ``x-spanrun-experiment`` header (a name or an id; a new name is created),
    else the server's Default experiment.

    Args:
        store: the store (or its tracking URI).
        artifact_root: artifacts root when ``store`` is a URI.
        run_mode: ``"session"`` (default), ``"trace"`` or ``"none"``.
        max_body_bytes: request body limit, compressed and decompressed (413 beyond).
        max_queued_spans: spans waiting or being written at most (503 beyond).
        prices: model prices for ``llm.cost_usd``.
        clock_skew_s: how far a sender's clock may be ahead of the server's (see
            ``CountedCalls``: retried spans ending before the server started plus this are
            checked against the store; ``inf``: every span, for servers with several
            processes).
        retry_after_s: the ``Retry-After`` of a 503.
        grpc_port: also serve OTLP/gRPC on this port (None: off, the default; 0: any free
            port), started and stopped with the receiver (see ``start_grpc_receiver``).
        grpc_host: the interface gRPC listens on.
        auth_token: the bearer token gRPC requests must carry (the HTTP route is checked by
            the server's middleware).
        grpc_reuse_port: let several processes (``--workers``) listen on the gRPC port.
        tune_gc: at startup, tune the process's garbage collector for serving
            (``spanrun.server.tune_gc_for_serving``: ~10% of the ingest CPU); for a process
            that only serves. ``spanrun server`` does it for the whole app instead.
    """

    def __init__(
        self,
        store: Store | str,
        artifact_root: str | None = None,
        *,
        run_mode: RunMode = "session",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_queued_spans: int = 16_384,
        prices: PriceTable | PricesArg = None,
        clock_skew_s: float = 5.0,
        retry_after_s: int = 1,
        grpc_port: int | None = None,
        grpc_host: str = "127.0.0.1",
        auth_token: str | None = None,
        grpc_reuse_port: bool = False,
        tune_gc: bool = False,
    ) -> None:
        self._store = store
        self._artifact_root = artifact_root
        self._run_mode: RunMode = run_mode
        self._max_queued_spans = max_queued_spans
        self._prices = prices
        self._clock_skew_s = clock_skew_s
        self.max_body_bytes = max_body_bytes
        self.retry_after_s = retry_after_s
        self._ingest: Ingest | None = None
        self._grpc_options = (grpc_port, grpc_host, auth_token, grpc_reuse_port)
        self._tune_gc = tune_gc
        self.grpc: GrpcReceiver | None = None
        self._endpoint = TracesEndpoint(
            lambda: self.ingest, max_body_bytes=max_body_bytes, retry_after_s=retry_after_s
        )

    @property
    def ingest(self) -> Ingest:
        """The ingest queue and its ``RunExporter`` (made on first use or at startup)."""
        if self._ingest is None:
            store = self._store
            if isinstance(store, str):
                # The full store: duplicate checks read traces (a server need not save
                # SQLAlchemy's memory as autolog in a user's process does).
                from spanrun.store import get_store

                store = get_store(store, self._artifact_root)
            self._ingest = Ingest(
                store,
                run_mode=self._run_mode,
                prices=self._prices,
                max_queued_spans=self._max_queued_spans,
                clock_skew_s=self._clock_skew_s,
            )
        return self._ingest

    # -- the server extension protocol -------------------------------------------------------
    def routes(self) -> Sequence[BaseRoute]:
        """``POST /v1/traces``."""
        return [Route("/v1/traces", self._endpoint.handle, methods=["POST"], name="otlp_traces")]

    async def startup(self) -> None:
        """Open the store, start the ingest thread (and the gRPC receiver when asked)."""
        await asyncio.to_thread(lambda: self.ingest)
        port, host, token, reuse_port = self._grpc_options
        if port is not None and self.grpc is None:
            from spanrun.server.otlp._grpc import start_grpc_receiver

            self.grpc = start_grpc_receiver(
                port, self, host=host, auth_token=token, reuse_port=reuse_port
            )
        if self._tune_gc:
            tune_gc_for_serving()  # asked for: this process only serves

    async def shutdown(self) -> None:
        """Stop gRPC, write what is queued and end the session runs."""
        if self.grpc is not None:
            grpc, self.grpc = self.grpc, None
            await asyncio.to_thread(grpc.stop)
        if self._ingest is not None:
            ingest, self._ingest = self._ingest, None
            await asyncio.to_thread(ingest.close)


#: What :func:`receiver_from_environment` reads (the server's own variables where it has one).
ENV_VARIABLES = {
    "grpc_port": "SPANRUN_SERVER_OTLP_GRPC_PORT",  # unset or empty: no gRPC
    "grpc_host": "SPANRUN_SERVER_OTLP_GRPC_HOST",  # default 127.0.0.1
    "run_mode": "SPANRUN_SERVER_OTLP_RUN_MODE",  # session (default), trace or none
    "auth_token": "SPANRUN_SERVER_TOKEN",
    "max_body_bytes": "SPANRUN_SERVER_MAX_BODY_BYTES",
    "workers": "SPANRUN_SERVER_WORKERS",  # set by `spanrun server --workers N`
}


def receiver_from_environment(store: Store) -> OtlpReceiver:
    """An :class:`OtlpReceiver` over ``store`` configured by ``ENV_VARIABLES``: the extension
    factory each server worker calls (``SPANRUN_SERVER_EXTENSIONS=
    spanrun.server.otlp:receiver_from_environment``). Several workers share the gRPC port
    (SO_REUSEPORT)."""
    env = {key: os.environ.get(name, "").strip() for key, name in ENV_VARIABLES.items()}
    run_mode = env["run_mode"] or "session"
    if run_mode not in RUN_MODES:
        raise InvalidInputError(
            f"{ENV_VARIABLES['run_mode']} must be one of {RUN_MODES}, got {run_mode!r}"
        )
    try:
        workers = int(env["workers"]) if env["workers"] else 1
        grpc_port = int(env["grpc_port"]) if env["grpc_port"] else None
        max_body = int(env["max_body_bytes"]) if env["max_body_bytes"] else DEFAULT_MAX_BODY_BYTES
    except ValueError as exc:
        raise InvalidInputError(f"OTLP receiver settings: {exc}") from None
    return OtlpReceiver(
        store,
        run_mode=run_mode,  # type: ignore[arg-type]  # checked above
        max_body_bytes=max_body,
        grpc_port=grpc_port,
        grpc_host=env["grpc_host"] or "127.0.0.1",
        auth_token=env["auth_token"] or None,
        grpc_reuse_port=True,
        # Several workers: a sender's retry may reach another worker than the one that
        # committed the spans, so every LLM span not committed here is checked in the store.
        clock_skew_s=float("inf") if workers > 1 else 5.0,
    )
