"""The part of the REST store every route uses: the server's address and connection, which
kind of server it is (asked once), and searches' error mapping."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlparse

from spanrun.errors import InvalidFilterError, InvalidInputError
from spanrun.store.base import Store
from spanrun.store.rest._errors import error_from_response
from spanrun.store.rest._transport import Transport, TransportSettings

__all__ = ["ARTIFACTS_ENDPOINT", "MLFLOW", "SPANRUN", "RestBase"]

MLFLOW = "/api/2.0/mlflow"
SPANRUN = "/api/2.0/spanrun"
ARTIFACTS_ENDPOINT = "/api/2.0/mlflow-artifacts/artifacts"  # MLflow's proxied artifacts API


def _check_base_url(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInputError(
            f"Invalid tracking server URI {uri!r} (expected http(s)://host:port)"
        )
    if parsed.query or parsed.fragment:
        raise InvalidInputError(
            f"Tracking server URI {uri!r}: a query string or fragment is not supported"
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInputError(f"Invalid port in tracking server URI {uri!r}") from None
    return uri.rstrip("/")


class RestBase(Store):
    """A server at ``tracking_uri`` (``http(s)://host:port[/prefix]``), one keep-alive
    connection pool, timeouts and bounded retries (:mod:`spanrun.store.rest._transport`)."""

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: str | None = None,
        settings: TransportSettings | None = None,
    ) -> None:
        self.tracking_uri = _check_base_url(tracking_uri.strip())
        self.artifact_root = artifact_root or ""
        self._http = Transport(self.tracking_uri, settings)
        self._kind_lock = threading.Lock()
        self._kind: str | None = None  # "spanrun" or "mlflow", once asked
        self._warned_spans = False
        self._mlflow_takes_otlp = True  # until its /v1/traces route is found missing

    def __repr__(self) -> str:
        return f"RestStore({self.tracking_uri!r})"

    def close(self) -> None:
        self._http.close()

    # -- which server ----------------------------------------------------------------------
    def server_kind(self) -> str:
        """``"spanrun"`` or ``"mlflow"`` (any server without spanrun's routes), asked once."""
        kind = self._kind
        if kind is None:
            with self._kind_lock:
                if self._kind is None:
                    self._kind = self._ask_server_kind()
                kind = self._kind
        return kind

    def _ask_server_kind(self) -> str:
        path = f"{SPANRUN}/server-info"
        response = self._http.send("GET", path)
        if response.status_code in (404, 405):  # no such route: not a spanrun server
            return "mlflow"
        if response.status_code >= 300:  # e.g. a wrong token: the caller should know
            raise error_from_response(response.status_code, response.content, "GET", path)
        try:
            info = response.json()
        except ValueError:
            return "mlflow"
        return "spanrun" if isinstance(info, dict) and info.get("server") == "spanrun" else "mlflow"

    def _search(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._http.call("POST", path, body=body)
        except InvalidInputError as exc:
            if isinstance(exc, InvalidFilterError):
                raise
            raise InvalidFilterError(exc.message) from None  # as a local store's search says
