"""Datasets as run inputs, as MLflow's ``mlflow.data``::

    dataset = spanrun.data.from_pandas(df, source="data/eval.csv", name="eval", targets="label")
    with spanrun.start_run():
        spanrun.log_input(dataset, context="eval")

A dataset records its ``name``, a ``digest`` computed as MLflow computes it (so the same data
logged by MLflow and spanrun is one dataset), its ``source`` (kind and JSON), a ``schema`` in
MLflow's JSON shape and a ``profile`` (rows and elements); the data itself is not stored.
Runs list them in ``get_run(run_id).inputs.dataset_inputs``.
"""

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
