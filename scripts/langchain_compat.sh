#!/usr/bin/env bash
# Run the LangChain tests against the oldest supported line, langchain-core 0.3
# (with the langchain-openai release of that line), in its own virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-langchain03
stamp="$venv/.spanrun-setup"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -e ".[dev]" "langchain-core>=0.3,<0.4" "langchain-openai>=0.2,<0.4"
  touch "$stamp"
fi
"$venv/bin/python" -c 'import langchain_core; print("langchain-core", langchain_core.__version__)'
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/langchain tests/e2e/test_autolog_langchain.py \
  tests/e2e/test_one_span_per_langchain_step.py
