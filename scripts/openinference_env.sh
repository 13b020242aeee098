#!/usr/bin/env bash
# Creates .venv-openinference (once, reused): a plain folder holding OpenInference's LangChain
# instrumentor, installed with `pip install --target` so it is NOT in .venv (its
# opentelemetry_instrumentor entry point would switch on in every zero-code test subprocess).
# Only tests that put the folder first on PYTHONPATH see it. --no-deps: opentelemetry, wrapt and
# langchain-core come from the venv, so the folder holds no second copy that would shadow them.
# Never a dependency of spanrun. Prints the folder. Usage: bash scripts/openinference_env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.venv-openinference
PINS="openinference-instrumentation-langchain==0.1.80 openinference-instrumentation==0.1.72 openinference-semantic-conventions==0.1.42"
STAMP="$DIR/.stamp"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$PINS" ]; then
  if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
  fi
  rm -rf "$DIR"
  # shellcheck disable=SC2086  # PINS is a list of requirements
  "$PYTHON" -m pip install -q --disable-pip-version-check --no-deps --target "$DIR" $PINS >&2
  echo "$PINS" > "$STAMP"
fi
echo "$PWD/$DIR"
