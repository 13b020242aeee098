"""MLflow's ``mlflow.entities`` names, so ``from mlflow.entities import Metric`` ports as
``from spanrun.entities import Metric``."""

from spanrun.tracking.entities import *  # noqa: F403
from spanrun.tracking.entities import __all__  # noqa: F401
