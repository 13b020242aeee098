"""MLflow's ``mlflow.metrics`` names (placeholder on the judge branch: the eval branch owns
this module; ``spanrun.metrics.genai`` holds the LLM-judge metrics)."""
