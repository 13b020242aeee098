"""LLM prediction logs: ``log_predictions(inputs, outputs, prompts)`` appends rows with the
columns ``inputs,outputs,prompts`` to the active run's ``llm_predictions.csv`` (one run is
started, as in MLflow, when none is active). Autologging writes the same file with more
columns.

The file is UTF-8 CSV written as the :mod:`csv` module writes it (``\\r\\n`` line ends, fields
with commas, quotes or line breaks quoted); dicts and lists are stored as JSON. To read the
cells back exactly as written, use ``pandas.read_csv(path, dtype=str, keep_default_na=False)``
(plain ``read_csv`` turns numbers into numbers and empty cells into NaN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spanrun.artifacts import get_artifact_repository
from spanrun.artifacts.predictions import append_prediction_rows, encode_prediction_rows
from spanrun.core.vocabulary import LOG_PREDICTION_COLUMNS, PREDICTIONS_FILE
from spanrun.errors import InvalidInputError

__all__ = [
    "LOG_PREDICTION_COLUMNS",
    "PREDICTIONS_FILE",
    "append_prediction_rows",
    "encode_prediction_rows",
    "log_predictions",
]


def _as_list(name: str, values: Any) -> list[Any]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise InvalidInputError(
            f"log_predictions: {name} must be a list, got {type(values).__name__}"
        )
    return list(values)


def _check_items(name: str, values: list[Any], allow_dict: bool) -> None:
    allowed: tuple[type, ...] = (str, dict) if allow_dict else (str,)
    for index, value in enumerate(values):
        if not isinstance(value, allowed):
            kinds = "str or dict" if allow_dict else "str"
            raise InvalidInputError(
                f"log_predictions: {name}[{index}] must be a {kinds}, got {type(value).__name__}"
            )


def log_predictions(
    inputs: Sequence[str | dict[str, Any]],
    outputs: Sequence[str],
    prompts: Sequence[str | dict[str, Any]],
) -> None:
    """Append rows to the active run's ``llm_predictions.csv`` (starting a run if none).

    ``inputs`` and ``prompts`` hold str or dict (stored as JSON), ``outputs`` str; the three
    lists must have the same length.
    """
    ins, outs, prms = (
        _as_list("inputs", inputs),
        _as_list("outputs", outputs),
        _as_list("prompts", prompts),
    )
    if not len(ins) == len(outs) == len(prms):
        raise InvalidInputError(
            "log_predictions: inputs, outputs and prompts must have the same length, got "
            f"{len(ins)}, {len(outs)} and {len(prms)}"
        )
    _check_items("inputs", ins, allow_dict=True)
    _check_items("outputs", outs, allow_dict=False)
    _check_items("prompts", prms, allow_dict=True)
    from spanrun.tracking.fluent import tracker

    run = tracker.active_run() or tracker.start_run()
    repo = get_artifact_repository(run.info.artifact_uri)
    rows = [
        dict(zip(LOG_PREDICTION_COLUMNS, row, strict=True))
        for row in zip(ins, outs, prms, strict=True)
    ]
    append_prediction_rows(repo, rows, LOG_PREDICTION_COLUMNS, PREDICTIONS_FILE)
