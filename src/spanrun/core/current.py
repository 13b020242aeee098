"""What is current in this process, as the tracking layer tells the layers below it.

The tracking layer (tracking URI, fluent run stack) sits above the store, the artifacts and the
exporters, which must not import it; yet a ``runs:/`` URI needs the run's artifact location, an
exporter made without a store writes to the current tracking URI's store, and the run stamped on
a span is the active run. ``spanrun.tracking`` registers those lookups here when it is imported
(importing any part of ``spanrun`` imports it); until then they answer as an empty process
would: no active run, the Default experiment, the embedded default URI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spanrun.errors import InvalidStateError

__all__ = ["TrackingLookups", "lookups", "register"]


def _no_run() -> tuple[str, str] | None:
    return None


def _default_experiment() -> str:
    return "0"


def _unregistered(*_: Any) -> Any:
    raise InvalidStateError("spanrun.tracking is not loaded: import spanrun first")


@dataclass
class TrackingLookups:
    """The tracking layer's answers (see the module docstring)."""

    #: (run_id, experiment_id) of the active run in this context, or None
    active_run_ids: Callable[[], tuple[str, str] | None] = _no_run
    #: the experiment chosen with ``set_experiment`` (or its environment variables)
    active_experiment_id: Callable[[], str] = _default_experiment
    #: the current tracking URI
    tracking_uri: Callable[[], str] = _unregistered
    #: the store autolog's exporter writes to, for the current tracking URI
    export_store: Callable[[], Any] = _unregistered
    #: ``run_artifact_uri(run_id, tracking_uri or None)``: where a run's artifacts live
    run_artifact_uri: Callable[[str, str | None], str] = _unregistered


lookups = TrackingLookups()


def register(**answers: Callable[..., Any]) -> None:
    """Set some of :data:`lookups` (called by ``spanrun.tracking`` at import)."""
    for name, fn in answers.items():
        if not hasattr(lookups, name):
            raise TypeError(f"unknown tracking lookup {name!r}")
        setattr(lookups, name, fn)
