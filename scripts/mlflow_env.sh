#!/usr/bin/env bash
# Creates .venv-mlflow (once, reused): the stock MLflow 3.x client and server, for the tests
# and benchmarks that talk to or compare with MLflow. Never a dependency of spanrun itself.
# Prints the venv's python. Usage: bash scripts/mlflow_env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-mlflow
WANT="mlflow>=3,<4 v1"
STAMP="$VENV/.mlflow-stamp"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  PYTHON=${PYTHON:-python3}
  "$PYTHON" -m venv --clear "$VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "mlflow>=3,<4" >&2
  echo "$WANT" > "$STAMP"
fi
# What the evaluation parity tests need beside MLflow (its readability metrics call textstat,
# its token_count tiktoken, its openai flavor openai); added to an existing venv without
# recreating it.
if ! "$VENV/bin/python" -c "import textstat, tiktoken, openai" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check textstat tiktoken openai >&2
fi
echo "$PWD/$VENV/bin/python"
