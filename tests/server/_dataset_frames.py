"""DataFrames and arrays whose dataset description (digest, schema, profile, source) spanrun
and MLflow must compute alike. Run with either python: ``python _dataset_frames.py mlflow|spanrun``
prints every description as JSON (the MLflow venv has no spanrun, the test venv no MLflow)."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import pandas as pd


def describe(data: Any) -> dict[str, Any]:
    frames = {
        "mixed": pd.DataFrame(
            {
                "q": ["a", "b", None],
                "score": [1, 0, 2],
                "f": [0.5, np.nan, 1.0],
                "b": [True, False, True],
                "i32": np.array([1, 2, 3], dtype="int32"),
            }
        ),
        "strings": pd.DataFrame({"question": ["2+2?", "capital?"], "answer": ["4", "Paris"]}),
        "empty": pd.DataFrame({"a": []}),
        "long": pd.DataFrame({"x": np.arange(20000), "y": ["s"] * 20000}),
        "unicode": pd.DataFrame({"é列": ["ü", "日本"], "n": np.array([1, 2], dtype="uint8")}),
        "nullable": pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")}),
        "times": pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-01-02"])}),
    }
    out = {
        k: data.from_pandas(df, name=k, source="data/x.csv").to_dict() for k, df in frames.items()
    }
    x = np.arange(12.0).reshape(3, 4)
    out["numpy"] = data.from_numpy(x, targets=np.array([1, 0, 1]), source="a.npy").to_dict()
    out["numpy_dict"] = data.from_numpy(
        {"a": x, "b": np.ones(3)}, source="https://h/a.npy"
    ).to_dict()
    out["s3"] = data.from_pandas(frames["strings"], source="s3://bucket/k.csv").to_dict()
    return out


if __name__ == "__main__":
    if sys.argv[1] == "mlflow":
        import mlflow.data as chosen
    else:
        import spanrun.data as chosen  # type: ignore[no-redef]
    print(json.dumps(describe(chosen)))
