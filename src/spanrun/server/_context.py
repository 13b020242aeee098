"""What every route handler works with: the store, a validating client over it, and the
artifact root the server proxies.

Requests go through :class:`spanrun.tracking.SpanrunClient` (over the server's own store), so
the server applies exactly the checks of local logging (key syntax, value lengths, batch
limits, metric types) and answers the same typed errors.

Artifact URIs: the store keeps ``file://`` URIs under the artifact root; clients see them as
``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts`` (as from ``mlflow server
--serve-artifacts``) and reach the files through ``/api/2.0/mlflow-artifacts/artifacts/...``.
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

from spanrun.artifacts import LocalArtifactRepository, normalize_untrusted_path
from spanrun.errors import InvalidInputError
from spanrun.store import Store
from spanrun.tracking import SpanrunClient

__all__ = ["PROXY_SCHEME", "ServerContext"]

PROXY_SCHEME = "mlflow-artifacts"


class _StoreClient(SpanrunClient):
    """The tracking client over a store the server already holds."""

    def __init__(self, store: Store, tracking_uri: str) -> None:
        super().__init__(tracking_uri)
        self._server_store = store

    @property
    def store(self) -> Store:
        return self._server_store


class ServerContext:
    """The store, its client and the proxied artifact root of one app."""

    def __init__(self, store: Store, tracking_uri: str) -> None:
        self.store = store
        self.client: SpanrunClient = _StoreClient(store, tracking_uri)
        self.root_uri = store.artifact_root.rstrip("/")
        if urlparse(self.root_uri).scheme != "file":
            raise InvalidInputError(
                f"The server proxies artifacts from a local directory; the store's artifact "
                f"root is {store.artifact_root!r}"
            )
        #: The whole proxied tree: ``mlflow-artifacts:/<path>`` is ``<root>/<path>``.
        self.artifacts = LocalArtifactRepository(self.root_uri)

    @property
    def artifact_root_path(self) -> str:
        return self.artifacts.root

    def client_uri(self, stored: str) -> str:
        """The URI a client sees for a stored artifact URI (unchanged outside the root)."""
        if stored == self.root_uri:
            return f"{PROXY_SCHEME}:/"
        if stored.startswith(self.root_uri + "/"):
            return f"{PROXY_SCHEME}:/{stored[len(self.root_uri) + 1 :]}"
        return stored

    def stored_location(self, given: str) -> str:
        """The stored artifact location for one a client asked for: only ``mlflow-artifacts:/``
        locations under the root are taken (a client cannot point the server at its files)."""
        parsed = urlparse(given)
        if parsed.scheme != PROXY_SCHEME or parsed.query or parsed.fragment or parsed.params:
            raise InvalidInputError(
                f"artifact_location {given!r} is not allowed: this server keeps artifacts "
                f"itself; leave it out or give an {PROXY_SCHEME}:/<path> location"
            )
        relative = normalize_untrusted_path(parsed.path.lstrip("/"))
        if not relative:
            raise InvalidInputError(
                f"artifact_location {given!r} must name a folder below {PROXY_SCHEME}:/"
            )
        return f"{self.root_uri}/{quote(relative)}"
