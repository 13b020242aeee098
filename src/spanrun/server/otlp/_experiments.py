"""The experiment a sender chose (header or attribute), by name or id, created when missing."""

from __future__ import annotations

import threading
from collections import OrderedDict

from spanrun.core.entities import LifecycleStage
from spanrun.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from spanrun.store import Store

__all__ = ["EXPERIMENT_HEADER", "EXPERIMENT_NAME_ATTRIBUTE", "ExperimentChooser"]

#: HTTP header (gRPC metadata key) choosing the experiment of a request's spans: name or id.
EXPERIMENT_HEADER = "x-spanrun-experiment"
#: Resource or span attribute choosing the experiment by name (the span's wins).
EXPERIMENT_NAME_ATTRIBUTE = "spanrun.experiment_name"
_MAX_CACHED = 1_000
_MAX_NAME = 256  # the experiments table's name column


class ExperimentChooser:
    """Resolves what a sender wrote to an experiment id, as ``set_experiment`` does.

    A name is looked up first, then (all digits) an id; an unknown name creates the
    experiment. A deleted experiment is refused (``InvalidInputError``): spans are not put
    where nobody looks. Answers are cached (at most 1,000 names).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._ids: OrderedDict[str, str] = OrderedDict()

    def experiment_id(self, name_or_id: str) -> str:
        """The experiment's id; raises ``InvalidInputError`` for a deleted or unusable one."""
        with self._lock:
            known = self._ids.get(name_or_id)
        if known is not None:
            return known
        found = self._resolve(name_or_id)
        with self._lock:
            self._ids[name_or_id] = found
            if len(self._ids) > _MAX_CACHED:
                self._ids.popitem(last=False)
        return found

    def existing_id(self, experiment_id: str) -> str:
        """``experiment_id`` when it names an active experiment (never created); raises
        ``InvalidInputError`` otherwise."""
        cache_key = "\0id:" + experiment_id  # apart from names
        with self._lock:
            known = self._ids.get(cache_key)
        if known is not None:
            return known
        try:
            experiment = self._store.get_experiment(experiment_id)
        except NotFoundError:
            raise InvalidInputError(f"no experiment with id {experiment_id[:80]!r}") from None
        if experiment.lifecycle_stage == LifecycleStage.DELETED.value:
            raise InvalidInputError(
                f"experiment {experiment.name!r} ({experiment.experiment_id}) is deleted; "
                "restore it or choose another"
            )
        with self._lock:
            self._ids[cache_key] = experiment.experiment_id
            if len(self._ids) > _MAX_CACHED:
                self._ids.popitem(last=False)
        return experiment.experiment_id

    def _resolve(self, name_or_id: str) -> str:
        text = name_or_id.strip()
        if not text or len(text) > _MAX_NAME:
            raise InvalidInputError(
                f"experiment {name_or_id[:80]!r}: a name of 1 to {_MAX_NAME} characters"
            )
        store = self._store
        experiment = store.get_experiment_by_name(text)
        if experiment is None and text.isdigit():
            try:
                experiment = store.get_experiment(text)
            except NotFoundError:
                experiment = None
        if experiment is None:
            try:
                return store.create_experiment(text)
            except AlreadyExistsError:  # created meanwhile by another worker
                experiment = store.get_experiment_by_name(text)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == LifecycleStage.DELETED.value:
            raise InvalidInputError(
                f"experiment {experiment.name!r} ({experiment.experiment_id}) is deleted; "
                "restore it or choose another"
            )
        return experiment.experiment_id
