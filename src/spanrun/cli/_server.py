"""``spanrun server`` and ``spanrun ui``: serve a store over HTTP with uvicorn.

uvicorn imports the app by name (``spanrun.server:app_from_environment``) in each worker, so
the configuration travels in ``SPANRUN_SERVER_*`` environment variables (the names
``spanrun.server`` reads; they also let any ASGI server run the same app). The database is
opened (created or migrated) once here, before the workers start, so that they never race to
build a new one.
"""

from __future__ import annotations

import ipaddress
import os

import click

from spanrun.store import get_store

__all__ = ["server", "ui"]

APP_FACTORY = "spanrun.server:app_from_environment"
# The variables spanrun.server.app_from_environment reads (spanrun.server.ENV_*).
ENV_BACKEND_STORE_URI = "SPANRUN_SERVER_BACKEND_STORE_URI"
ENV_ARTIFACTS_DESTINATION = "SPANRUN_SERVER_ARTIFACTS_DESTINATION"
ENV_TOKEN = "SPANRUN_SERVER_TOKEN"
ENV_ALLOWED_HOSTS = "SPANRUN_SERVER_ALLOWED_HOSTS"
ENV_OTLP_GRPC_PORT = "SPANRUN_SERVER_OTLP_GRPC_PORT"
ENV_OTLP_GRPC_HOST = "SPANRUN_SERVER_OTLP_GRPC_HOST"
DEFAULT_PORT = 5000


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _default_store_uri() -> str:
    return f"sqlite:///{os.path.join(os.getcwd(), 'spanrun.db')}"


def _serve(
    *,
    backend_store_uri: str,
    artifacts_destination: str | None,
    host: str,
    port: int,
    workers: int,
    auth_token: str | None,
    insecure_no_auth: bool,
    allowed_hosts: str | None,
    access_log: bool,
) -> None:
    try:
        import uvicorn
    except ImportError:
        raise click.ClickException(
            "spanrun server needs the 'server' extra: pip install 'spanrun[server]'"
        ) from None
    loopback = is_loopback(host)
    if not loopback and not auth_token and not insecure_no_auth:
        raise click.ClickException(
            f"Binding {host} (not a loopback address) needs a token: pass --auth-token or set "
            "SPANRUN_SERVER_TOKEN (clients send it as 'Authorization: Bearer <token>'), or "
            "--insecure-no-auth to serve without one."
        )
    if auth_token is not None and not auth_token.strip():
        raise click.ClickException("The auth token must not be empty")
    if artifacts_destination:
        artifacts_destination = os.path.abspath(artifacts_destination)
    get_store(backend_store_uri, artifacts_destination)  # create or migrate it once, here
    os.environ[ENV_BACKEND_STORE_URI] = backend_store_uri
    os.environ.pop(ENV_ARTIFACTS_DESTINATION, None)
    if artifacts_destination:
        os.environ[ENV_ARTIFACTS_DESTINATION] = artifacts_destination
    os.environ.pop(ENV_TOKEN, None)
    if auth_token:
        os.environ[ENV_TOKEN] = auth_token
    # A loopback server answers loopback Host names only (DNS rebinding); any other bind
    # address answers any name unless --allowed-hosts narrows it.
    os.environ[ENV_ALLOWED_HOSTS] = allowed_hosts or ("" if loopback else "*")
    display = f"[{host}]" if ":" in host else host
    click.echo(
        f"spanrun server on http://{display}:{port} ({workers} worker(s)), store "
        f"{_redacted(backend_store_uri)}" + ("" if auth_token else ", no token"),
        err=True,
    )
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        server_header=False,
    )


def _redacted(uri: str) -> str:
    """The URI without its password, for the log line."""
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest:
        return uri
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def _common(function: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option(
            "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True
        ),
        click.option(
            "--auth-token",
            envvar=ENV_TOKEN,
            metavar="TOKEN",
            help=f"Require 'Authorization: Bearer TOKEN' on every request (or ${ENV_TOKEN}).",
        ),
        click.option(
            "--insecure-no-auth",
            is_flag=True,
            help="Allow binding a non-loopback address without a token.",
        ),
        click.option(
            "--allowed-hosts",
            metavar="NAMES",
            help="Comma-separated Host names to answer ('*' for any). Default: the loopback "
            "names for a loopback address, else any.",
        ),
        click.option("--access-log", is_flag=True, help="Log every request."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command("server")
@click.option(
    "--backend-store-uri",
    metavar="URI",
    help="sqlite:///path.db or postgresql://... Default: ./spanrun.db.",
)
@click.option(
    "--artifacts-destination",
    metavar="DIR",
    help="Folder the server keeps (and proxies) artifacts in. Default: spanrun-artifacts "
    "beside the SQLite file, else ./spanrun-artifacts.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True)
@click.option(
    "--otlp-grpc-port",
    type=click.IntRange(1, 65535),
    help="Also receive OTLP traces over gRPC on this port (off by default; OTLP/HTTP is always "
    "at /v1/traces). Workers share it.",
)
@_common
def server(
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    host: str,
    workers: int,
    otlp_grpc_port: int | None,
    port: int,
    auth_token: str | None,
    insecure_no_auth: bool,
    allowed_hosts: str | None,
    access_log: bool,
) -> None:
    """Serve a tracking store over HTTP (MLflow's REST API, artifacts, spanrun's API, OTLP
    traces at /v1/traces)."""
    os.environ.pop(ENV_OTLP_GRPC_PORT, None)
    os.environ.pop(ENV_OTLP_GRPC_HOST, None)
    # The OTLP receiver of each worker checks retried spans against the store when it has
    # sibling workers (spanrun.server.otlp.receiver_from_environment).
    os.environ["SPANRUN_SERVER_WORKERS"] = str(workers)
    if otlp_grpc_port is not None:
        os.environ[ENV_OTLP_GRPC_PORT] = str(otlp_grpc_port)
        os.environ[ENV_OTLP_GRPC_HOST] = host
    _serve(
        backend_store_uri=backend_store_uri or _default_store_uri(),
        artifacts_destination=artifacts_destination,
        host=host,
        port=port,
        workers=workers,
        auth_token=auth_token,
        insecure_no_auth=insecure_no_auth,
        allowed_hosts=allowed_hosts,
        access_log=access_log,
    )


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@_common
def ui(
    host: str,
    port: int,
    auth_token: str | None,
    insecure_no_auth: bool,
    allowed_hosts: str | None,
    access_log: bool,
) -> None:
    """Serve the store of ``--tracking-uri`` (default ./spanrun.db) at http://127.0.0.1:5000."""
    root = click.get_current_context().find_root()
    given = (root.params or {}).get("tracking_uri")
    uri = given if given and "://" in given else _default_store_uri()
    if uri.split("://", 1)[0] in ("http", "https"):
        raise click.ClickException(f"spanrun ui serves a local store, not {uri}")
    _serve(
        backend_store_uri=uri,
        artifacts_destination=None,
        host=host,
        port=port,
        workers=1,
        auth_token=auth_token,
        insecure_no_auth=insecure_no_auth,
        allowed_hosts=allowed_hosts,
        access_log=access_log,
    )
