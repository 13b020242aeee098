"""Dataset digests computed as MLflow computes them (``mlflow/data/digest_utils.py``), so the
same data logged from spanrun and from MLflow has the same digest (and is one dataset)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_ROWS", "numpy_digest", "pandas_digest"]

#: Rows (or flattened elements) hashed at most, as MLflow: larger data is told apart by its
#: length and shape beyond that.
MAX_ROWS = 10000


def _md5(elements: list[Any]) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    for element in elements:
        md5.update(element)
    return md5.hexdigest()[:8]


def _all_str(column: pd.Series) -> bool:
    # Only object and string columns can hold str values; this equals MLflow's
    # `(df.map(type) == str).all(0)` (which maps every cell of every column).
    if column.dtype.kind != "O":
        return len(column) == 0
    return all(type(value) is str for value in column)


def pandas_digest(df: pd.DataFrame) -> str:
    """The digest of a DataFrame: its first rows' string and numeric columns, its length and
    its column names."""
    import numpy as np
    import pandas as pd

    trimmed = df.head(MAX_ROWS)
    string_columns = df.columns[[_all_str(df.iloc[:, i]) for i in range(df.shape[1])]]
    numeric_columns = trimmed.select_dtypes(include=[np.number]).columns
    trimmed = trimmed[string_columns.union(numeric_columns)]
    return _md5(
        [pd.util.hash_pandas_object(trimmed).values, np.int64(len(df))]
        + [str(x).encode() for x in df.columns]
    )


def numpy_digest(features: Any, targets: Any = None) -> str:
    """The digest of numpy features (an array or a dict of arrays) and optional targets."""
    import numpy as np
    import pandas as pd

    elements: list[Any] = []

    def add(array: Any) -> None:
        trimmed = array.flatten()[0:MAX_ROWS]
        try:
            elements.append(pd.util.hash_array(trimmed))
        except TypeError:
            elements.append(np.int64(trimmed.size))
        elements.extend(np.int64(x) for x in array.shape)

    for item in (features, targets):
        if item is None:
            continue
        if isinstance(item, dict):
            for key in sorted(item):
                add(item[key])
        else:
            add(item)
    return _md5(elements)
