"""The REST store: tracking data on a ``spanrun server`` or a stock ``mlflow server``.

``spanrun.set_tracking_uri("http://host:5000")`` (or ``SPANRUN_TRACKING_URI``) gives a
:class:`RestStore`, which speaks MLflow's REST API 2.0 (and spanrun's own routes for spans and
export batches when the server is a spanrun server). Imported only for http(s) URIs: it needs
httpx.
"""

from __future__ import annotations

from spanrun.store.rest._store import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
    RestStore,
)
from spanrun.store.rest._transport import TransportSettings

__all__ = [
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_PER_BATCH",
    "MAX_TAGS_PER_BATCH",
    "RestStore",
    "TransportSettings",
]
