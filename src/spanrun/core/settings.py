"""Settings read from the environment: ``SPANRUN_<NAME>``, else MLflow's ``MLFLOW_<NAME>``.

Code ported from MLflow keeps its configuration: ``import spanrun as mlflow`` in a program set up
with ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME`` logs where that program always
did. spanrun's own variable wins when both are set. An empty value counts as unset.
"""

from __future__ import annotations

import os

__all__ = ["env_setting", "env_setting_group"]

_PREFIXES = ("SPANRUN_", "MLFLOW_")


def env_setting(name: str) -> tuple[str, str] | None:
    """``(variable, value)`` of ``SPANRUN_<name>``, else ``MLFLOW_<name>``; None when neither
    is set."""
    for prefix in _PREFIXES:
        value = os.environ.get(prefix + name)
        if value:
            return prefix + name, value
    return None


def env_setting_group(*names: str) -> dict[str, tuple[str, str]]:
    """The settings ``names`` (e.g. EXPERIMENT_ID, EXPERIMENT_NAME) from one family only: the
    ``SPANRUN_`` variables when any of them is set, else the ``MLFLOW_`` ones; {name: (variable,
    value)} for those set."""
    for prefix in _PREFIXES:
        found = {
            n: (prefix + n, os.environ[prefix + n]) for n in names if os.environ.get(prefix + n)
        }
        if found:
            return found
    return {}
