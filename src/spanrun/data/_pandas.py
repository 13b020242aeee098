"""Datasets from pandas DataFrames (MLflow's ``mlflow.data.from_pandas``)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from spanrun.data._dataset import Dataset
from spanrun.data._digest import pandas_digest
from spanrun.data._sources import DatasetSource, resolve_source
from spanrun.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PandasDataset", "from_pandas"]

# Python values of object columns -> MLflow's DataType names (bool before int: a subclass).
_VALUE_TYPES: tuple[tuple[type, str], ...] = (
    (str, "string"),
    (bytes, "binary"),
    (bool, "boolean"),
    (int, "long"),
    (float, "double"),
    (datetime.datetime, "datetime"),
)


def _dtype_name(dtype: Any) -> str | None:
    """MLflow's DataType name of a numpy/pandas dtype (``_infer_numpy_dtype``)."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return "boolean"
    if kind in "iu":
        if size < 4 or (kind == "i" and size == 4):
            return "integer"
        if size < 8 or (kind == "i" and size == 8):
            return "long"
        return None  # uint64: no MLflow type
    if kind == "f":
        return "float" if size <= 4 else "double" if size <= 8 else None
    return {"U": "string", "S": "binary", "M": "datetime"}.get(kind)


def _column_type(column: pd.Series) -> str | None:
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        return None
    if column.dtype.kind != "O":
        return _dtype_name(column.dtype)
    # isna() is MLflow's "None or NaN" (None, float NaN, pd.NA, NaT), column-wise.
    values = column[~column.isna()].to_list()
    for python_type, name in _VALUE_TYPES:
        if values and all(type(v) is python_type for v in values):
            return name
    if not values or pd.api.types.is_string_dtype(column):
        return "string"  # as MLflow, which falls back to string for such columns
    return None  # lists, dicts, mixed values: not inferred (MLflow has richer types)


def infer_colspec(df: pd.DataFrame) -> dict[str, Any] | None:
    """MLflow's column schema of ``df`` (``{"mlflow_colspec": [{"type", "name", "required"}]}``),
    or None when a column's type is not one of MLflow's scalar types."""
    specs = []
    for i, name in enumerate(df.columns):
        column = df.iloc[:, i]
        kind = _column_type(column)
        if kind is None:
            return None
        required = not bool(column.isna().any())
        specs.append({"type": kind, "name": str(name), "required": required})
    return {"mlflow_colspec": specs}


class PandasDataset(Dataset):
    """A DataFrame used by a run (``df``), with optional ``targets`` and ``predictions``
    column names. Make one with :func:`from_pandas`."""

    def __init__(
        self,
        df: pd.DataFrame,
        source: DatasetSource,
        targets: str | None = None,
        name: str | None = None,
        digest: str | None = None,
        predictions: str | None = None,
    ) -> None:
        for what, column in (("targets", targets), ("predictions", predictions)):
            if column is not None and column not in df.columns:
                raise InvalidInputError(
                    f"The DataFrame has no {what} column {column!r} (its columns: "
                    f"{', '.join(map(str, df.columns))})"
                )
        self._df = df
        self._targets = targets
        self._predictions = predictions
        super().__init__(source, name, digest)

    def _compute_digest(self) -> str:
        return pandas_digest(self._df)

    @property
    def df(self) -> pd.DataFrame:
        return self._df

    @property
    def targets(self) -> str | None:
        return self._targets

    @property
    def predictions(self) -> str | None:
        return self._predictions

    @property
    def schema(self) -> dict[str, Any] | None:
        return infer_colspec(self._df)

    @property
    def profile(self) -> dict[str, Any]:
        return {"num_rows": len(self._df), "num_elements": int(self._df.size)}


def from_pandas(
    df: pd.DataFrame,
    source: str | DatasetSource | None = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    """A dataset of ``df`` for ``spanrun.log_input``, as ``mlflow.data.from_pandas``.

    ``source``: where the data came from (a path, an ``http(s)``/``s3``/... URI, or a
    DatasetSource); None means the calling program. ``name`` defaults to ``"dataset"``;
    ``digest`` is computed as MLflow does unless given. ``targets`` and ``predictions`` name
    columns of ``df``.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"from_pandas takes a pandas DataFrame, got {type(df).__name__}")
    for what, value in (("name", name), ("digest", digest)):
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f"Dataset {what} must be a string, got {type(value).__name__}")
    return PandasDataset(df, resolve_source(source), targets, name, digest, predictions)
