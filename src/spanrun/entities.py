"""MLflow's ``mlflow.entities`` names, so ``from mlflow.entities import Metric`` ports as
``from spanrun.entities import Metric``."""

from spanrun.core.entities import *  # noqa: F403
from spanrun.core.entities import __all__  # noqa: F401
