"""The base of spanrun's datasets: what ``log_input`` records about one (MLflow's
``mlflow.data.Dataset``)."""

from __future__ import annotations

import abc
import json
from typing import Any

from spanrun.core.entities import Dataset as DatasetEntity
from spanrun.data._sources import DatasetSource

__all__ = ["Dataset"]


class Dataset(abc.ABC):
    """A dataset a run may use: ``name``, ``digest`` (a short hash of its content),
    ``source``, and optionally a ``schema`` and a ``profile``; ``to_dict()`` is what is
    stored, in MLflow's shape (source, schema and profile as JSON strings)."""

    def __init__(self, source: DatasetSource, name: str | None, digest: str | None) -> None:
        self._source = source
        self._name = name
        self._digest = digest or self._compute_digest()

    @abc.abstractmethod
    def _compute_digest(self) -> str:
        """An 8-character hash of the content (MLflow's algorithm for the kind of data)."""

    @property
    def name(self) -> str:
        """The given name, else ``"dataset"`` (as MLflow)."""
        return self._name if self._name is not None else "dataset"

    @property
    def digest(self) -> str:
        return self._digest

    @property
    def source(self) -> DatasetSource:
        return self._source

    @property
    @abc.abstractmethod
    def schema(self) -> dict[str, Any] | None:
        """The schema in MLflow's JSON shape, or None when it cannot be inferred."""

    @property
    @abc.abstractmethod
    def profile(self) -> dict[str, Any]:
        """Summary numbers (rows, elements, shapes)."""

    def to_dict(self) -> dict[str, str | None]:
        schema = self.schema
        return {
            "name": self.name,
            "digest": self.digest,
            "source": self.source.to_json(),
            "source_type": self.source.source_type,
            "schema": None if schema is None else json.dumps(schema),
            "profile": json.dumps(self.profile),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_entity(self) -> DatasetEntity:
        """The ``spanrun.entities.Dataset`` that ``log_input`` stores."""
        d = self.to_dict()
        return DatasetEntity(
            name=self.name,
            digest=self.digest,
            source_type=self.source.source_type,
            source=str(d["source"]),
            schema=d["schema"],
            profile=d["profile"],
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, digest={self.digest!r})"
