"""Dataset inputs of runs: checking them, and turning a user's dataset into the entity.

``log_input`` takes a dataset object (``spanrun.data.from_pandas(...)``, or one of MLflow's
``mlflow.data`` datasets: both have MLflow's ``to_dict()``); ``MlflowClient.log_inputs`` takes
``DatasetInput`` entities (spanrun's, or objects shaped like MLflow's). The limits are MLflow's,
so what one accepts the other does too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from spanrun.core.entities import Dataset, DatasetInput, InputTag
from spanrun.core.vocabulary import DATASET_CONTEXT_TAG
from spanrun.errors import InvalidInputError
from spanrun.tracking import _validation as check

__all__ = [
    "MAX_DATASETS_PER_BATCH",
    "checked_dataset_inputs",
    "dataset_entity",
    "dataset_input",
]

# MLflow's limits (mlflow/utils/validation.py), in characters.
MAX_DATASETS_PER_BATCH = 1000
_LIMITS = {
    "name": 500,
    "digest": 36,
    "source_type": 36,
    "source": 65535,
    "schema": 1048575,
    "profile": 16777215,
}
_MAX_TAG_KEY = 255
_MAX_TAG_VALUE = 500


def _string(what: str, value: Any, limit: int, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidInputError(
            f"{what} is {len(value)} characters long; the limit is {limit}: {value[:40]!r}..."
        )
    return check.text(what, value)


def _dataset(fields: Mapping[str, Any]) -> Dataset:
    """A checked Dataset entity from its fields (schema and profile may be None)."""
    checked = {
        name: _string(f"Dataset {name}", fields.get(name), limit, name in ("schema", "profile"))
        for name, limit in _LIMITS.items()
    }
    if not checked["name"]:
        raise InvalidInputError("Dataset name must not be empty")
    if not checked["digest"]:
        raise InvalidInputError(f"Dataset {checked['name']!r} has an empty digest")
    return Dataset(**checked)  # type: ignore[arg-type]


def _attributes(value: Any, what: str) -> dict[str, Any]:
    """The Dataset fields of ours or of any object with MLflow's Dataset attributes."""
    missing = [name for name in _LIMITS if not hasattr(value, name)]
    if missing:
        raise InvalidInputError(
            f"{what} needs a dataset with {missing}; got {type(value).__name__}"
        )
    return {name: getattr(value, name) for name in _LIMITS}


def _tag(key: Any, value: Any) -> InputTag:
    key = _string("Dataset input tag key", key, _MAX_TAG_KEY)
    assert key is not None
    if not key:
        raise InvalidInputError("Dataset input tag key must not be empty")
    value = _string(f"Dataset input tag {key!r} value", value, _MAX_TAG_VALUE)
    assert value is not None
    return InputTag(key, value)


def _one_input(value: Any) -> DatasetInput:
    if not hasattr(value, "dataset") or not hasattr(value, "tags"):
        raise InvalidInputError(
            "log_inputs takes DatasetInput entities (spanrun.entities.DatasetInput), got "
            f"{type(value).__name__}; use spanrun.log_input(dataset) for a dataset object"
        )
    tags = value.tags or ()
    if isinstance(tags, Mapping):
        pairs = list(tags.items())
    else:
        pairs = [(getattr(t, "key", None), getattr(t, "value", None)) for t in tags]
    dataset = _dataset(_attributes(value.dataset, "A dataset input"))
    return DatasetInput(dataset, tuple(_tag(k, v) for k, v in pairs))


def checked_dataset_inputs(values: Any) -> list[DatasetInput]:
    """Check what ``log_inputs`` was given: a list of DatasetInput, within MLflow's limits."""
    if values is None:
        return []
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise InvalidInputError(
            f"datasets must be a list of DatasetInput, got {type(values).__name__}"
        )
    if len(values) > MAX_DATASETS_PER_BATCH:
        raise InvalidInputError(
            f"{len(values)} datasets in one call; the limit is {MAX_DATASETS_PER_BATCH}"
        )
    return [_one_input(v) for v in values]


def dataset_entity(dataset: Any) -> Dataset:
    """The entity of a dataset object: a Dataset entity as it is, else MLflow's ``to_dict()``
    (name, digest, source, source_type, schema, profile), which spanrun's and MLflow's
    datasets both have."""
    if isinstance(dataset, Dataset):
        return _dataset(_attributes(dataset, "log_input"))
    to_dict = getattr(dataset, "to_dict", None)
    if not callable(to_dict) or isinstance(dataset, Mapping):
        raise InvalidInputError(
            "log_input takes a dataset (spanrun.data.from_pandas(...), from_numpy(...), or an "
            f"mlflow.data dataset), got {type(dataset).__name__}"
        )
    try:
        config = to_dict()
    except TypeError:  # some other object's to_dict, which needs arguments
        config = None
    if not isinstance(config, Mapping) or not {"name", "digest", "source"} <= config.keys():
        raise InvalidInputError(
            f"log_input takes a dataset, got {type(dataset).__name__}: wrap data with "
            "spanrun.data.from_pandas(df, name=...) or spanrun.data.from_numpy(array, name=...)"
        )
    fields = dict(config)
    if isinstance(fields.get("source"), Mapping):  # a source given as a dict: MLflow's JSON
        fields["source"] = json.dumps(fields["source"])
    return _dataset(fields)


def dataset_input(
    dataset: Any, context: str | None = None, tags: Mapping[str, Any] | None = None
) -> DatasetInput:
    """The DatasetInput that ``log_input(dataset, context, tags)`` logs (context as the
    ``mlflow.data.context`` tag, after the user's tags, as MLflow)."""
    entity = dataset_entity(dataset)
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidInputError(f"tags must be a dict of str to str, got {type(tags).__name__}")
    pairs = [(k, v if v is None else str(v)) for k, v in (tags or {}).items()]
    if context:
        pairs.append((DATASET_CONTEXT_TAG, context))
    return DatasetInput(entity, tuple(_tag(k, v) for k, v in pairs))
