"""Datasets from numpy arrays (MLflow's ``mlflow.data.from_numpy``)."""

from __future__ import annotations

import json
from typing import Any

from spanrun.data._dataset import Dataset
from spanrun.data._digest import numpy_digest
from spanrun.data._sources import DatasetSource, resolve_source
from spanrun.errors import InvalidInputError

__all__ = ["NumpyDataset", "from_numpy"]


def _tensor_specs(data: Any) -> str:
    """MLflow's tensor schema of an array or a dict of arrays, as its JSON text."""

    def spec(array: Any, name: str | None) -> dict[str, Any]:
        shape = [-1, *array.shape[1:]]
        body: dict[str, Any] = {"type": "tensor", "tensor-spec": {"dtype": str(array.dtype)}}
        body["tensor-spec"]["shape"] = shape
        return body if name is None else {"name": name, **body}

    if isinstance(data, dict):
        return json.dumps([spec(array, key) for key, array in data.items()])
    return json.dumps([spec(data, None)])


def _each(data: Any, attribute: str) -> Any:
    def value(array: Any) -> Any:
        found = getattr(array, attribute)
        return list(found) if isinstance(found, tuple) else int(found)

    if isinstance(data, dict):
        return {key: value(array) for key, array in data.items()}
    return value(data)


class NumpyDataset(Dataset):
    """Numpy ``features`` (an array or a dict of arrays) and optional ``targets`` used by a
    run. Make one with :func:`from_numpy`."""

    def __init__(
        self,
        features: Any,
        source: DatasetSource,
        targets: Any = None,
        name: str | None = None,
        digest: str | None = None,
    ) -> None:
        self._features = features
        self._targets = targets
        super().__init__(source, name, digest)

    def _compute_digest(self) -> str:
        return numpy_digest(self._features, self._targets)

    @property
    def features(self) -> Any:
        return self._features

    @property
    def targets(self) -> Any:
        return self._targets

    @property
    def schema(self) -> dict[str, Any] | None:
        targets = None if self._targets is None else _tensor_specs(self._targets)
        return {
            "mlflow_tensorspec": {"features": _tensor_specs(self._features), "targets": targets}
        }

    @property
    def profile(self) -> dict[str, Any]:
        profile = {f"features_{a}": _each(self._features, a) for a in ("shape", "size", "nbytes")}
        if self._targets is not None:
            profile.update(
                {f"targets_{a}": _each(self._targets, a) for a in ("shape", "size", "nbytes")}
            )
        return profile


def _check_arrays(what: str, data: Any) -> None:
    import numpy as np

    arrays = data.values() if isinstance(data, dict) else [data]
    if not all(isinstance(a, np.ndarray) for a in arrays):
        raise InvalidInputError(
            f"from_numpy {what} must be a numpy array or a dict of them, got {type(data).__name__}"
        )


def from_numpy(
    features: Any,
    source: str | DatasetSource | None = None,
    targets: Any = None,
    name: str | None = None,
    digest: str | None = None,
) -> NumpyDataset:
    """A dataset of numpy ``features`` (and ``targets``) for ``spanrun.log_input``, as
    ``mlflow.data.from_numpy`` (same source rules, name and digest as :func:`from_pandas`)."""
    _check_arrays("features", features)
    if targets is not None:
        _check_arrays("targets", targets)
    for what, value in (("name", name), ("digest", digest)):
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f"Dataset {what} must be a string, got {type(value).__name__}")
    return NumpyDataset(features, resolve_source(source), targets, name, digest)
