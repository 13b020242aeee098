#!/usr/bin/env bash
# The test command of the README: installs what is missing, lints, runs the whole suite
# (SQLite and a throwaway PostgreSQL server), then the OpenAI suite against the oldest
# supported openai release.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-postgres
bash scripts/ui_browser.sh >/dev/null  # Debian's chromium for tests/ui (Playwright drives it)
bash scripts/mlflow_env.sh >/dev/null  # the stock MLflow client and server the server tests talk to
.venv/bin/ruff check src tests benchmarks examples scripts
.venv/bin/ruff format --check src tests benchmarks examples scripts
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
bash scripts/langchain_compat.sh
if [ -f scripts/openai_compat.sh ]; then
  bash scripts/openai_compat.sh
fi
bash scripts/otel_compat.sh
