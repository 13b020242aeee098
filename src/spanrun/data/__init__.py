"""Datasets as run inputs, as MLflow's ``mlflow.data``::

    dataset = spanrun.data.from_pandas(df, source="data/eval.csv", name="eval", targets="label")
    with spanrun.start_run():
        spanrun.log_input(dataset, context="eval")

A dataset records its ``name``, a ``digest`` computed as MLflow computes it (so the same data
logged by MLflow and spanrun is one dataset), its ``source`` (kind and JSON), a ``schema`` in
MLflow's JSON shape and a ``profile`` (rows and elements); the data itself is not stored.
Runs list them in ``get_run(run_id).inputs.dataset_inputs``.
"""

from typing import Any

from spanrun.data._dataset import Dataset
from spanrun.data._numpy import NumpyDataset, from_numpy
from spanrun.data._pandas import PandasDataset, from_pandas
from spanrun.data._sources import DatasetSource

__all__ = [
    "Dataset",
    "DatasetSource",
    "NumpyDataset",
    "PandasDataset",
    "from_numpy",
    "from_pandas",
]

# mlflow.data's other constructors: a typed error saying what spanrun offers (as spanrun's own
# missing MLflow names do), still an AttributeError for hasattr.
_MLFLOW_ONLY = (
    "from_spark",
    "from_huggingface",
    "from_polars",
    "from_tensorflow",
    "from_genai_evaluation",
    "load_delta",
    "get_source",
)


def __getattr__(name: str) -> Any:
    if name in _MLFLOW_ONLY:
        from spanrun.errors import UnsupportedError

        raise UnsupportedError(
            f"spanrun has no spanrun.data.{name} (MLflow's mlflow.data.{name}): convert the "
            "data to a pandas DataFrame or numpy arrays and use from_pandas or from_numpy"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
