"""The data of an evaluation: the input table, its named columns, and the model's outputs made
into one prediction column (MLflow's rules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spanrun.errors import InvalidInputError
from spanrun.evaluation._models import output_value

__all__ = ["as_table", "column_of", "one_row", "split_outputs"]


def as_table(data: Any) -> pd.DataFrame:
    if data is None:
        raise InvalidInputError("The data argument cannot be None")
    frame: pd.DataFrame
    if isinstance(data, pd.DataFrame):
        frame = data.copy()
    elif isinstance(data, Mapping) and all(
        isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in data.values()
    ):
        frame = pd.DataFrame({str(k): list(v) for k, v in data.items()})
    elif (
        isinstance(data, Sequence)
        and not isinstance(data, str)
        and data
        and all(isinstance(r, Mapping) for r in data)
    ):
        frame = pd.DataFrame([dict(r) for r in data])
    else:
        raise InvalidInputError(
            "data must be a pandas DataFrame, a list of dicts (one per row) or a dict of "
            f"columns; got {type(data).__name__}"
        )
    if len(frame) == 0:
        raise InvalidInputError("data has no rows")
    frame.columns = [str(c) for c in frame.columns]
    frame = frame.reset_index(drop=True)
    return frame


def column_of(frame: pd.DataFrame, name: Any, what: str) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidInputError(f"{what} must name a column of data, got {type(name).__name__}")
    if name not in frame.columns:
        raise InvalidInputError(
            f"{what}={name!r} is not a column of data (columns: {list(frame.columns)})"
        )
    return name


def one_row(value: Any) -> Any:
    """A function model's answer for a one-row frame, as that row's output."""
    if isinstance(value, pd.DataFrame):
        return value.iloc[0].to_dict() if len(value.columns) > 1 else value.iloc[0, 0]
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)) and len(value) == 1:
        return value[0] if not isinstance(value, pd.Series) else value.iloc[0]
    return value


def split_outputs(
    outputs: Any, name: str | None, rows: int
) -> tuple[pd.Series, pd.DataFrame | None, str | None]:
    """The prediction column and the model's other output columns (MLflow's rules)."""
    if isinstance(outputs, list) and outputs and all(isinstance(o, Mapping) for o in outputs):
        outputs = pd.DataFrame([dict(o) for o in outputs])
    elif isinstance(outputs, Mapping):
        outputs = pd.DataFrame({str(k): list(v) for k, v in outputs.items()})
    other = None
    if isinstance(outputs, pd.DataFrame):
        if name is not None and name in outputs.columns:
            y_pred, other = outputs[name], outputs.drop(columns=[name])
        elif len(outputs.columns) == 1:
            name = str(outputs.columns[0])
            y_pred = outputs.iloc[:, 0]
        else:
            raise InvalidInputError(
                "The model returned several columns "
                f"{list(map(str, outputs.columns))}: name the output column with predictions="
            )
    elif isinstance(outputs, (list, tuple, np.ndarray, pd.Series)):
        y_pred = pd.Series(list(outputs), dtype=object)
    else:
        raise InvalidInputError(
            "The model must return a list, a Series, an array or a DataFrame with one column "
            f"per output; got {type(outputs).__name__}"
        )
    if len(y_pred) != rows:
        raise InvalidInputError(f"The model returned {len(y_pred)} outputs for {rows} rows")
    y_pred = pd.Series([output_value(v) for v in y_pred], dtype=object)
    if other is not None:
        other = other.reset_index(drop=True)
    return y_pred, other, name
