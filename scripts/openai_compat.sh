#!/usr/bin/env bash
# Runs tests/openai against the oldest supported openai release (1.40.0) in its own venv,
# .venv-openai-oldest (created once, reused). The main venv covers the newest release.
# Usage: bash scripts/openai_compat.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-openai-oldest
OPENAI_VERSION=1.40.0
STAMP="$VENV/.openai-compat-stamp"
WANT="openai==$OPENAI_VERSION httpx<0.28 v1"  # openai 1.40 passes proxies=, removed in httpx 0.28

if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  PYTHON=${PYTHON:-python3}
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
  "$PYTHON" -m venv --clear "$VENV"
  PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  "${PIP[@]}" "openai==$OPENAI_VERSION" "httpx<0.28" \
    "pytest>=8" "pytest-asyncio>=0.23" "pytest-timeout>=2.2" pyyaml
  "${PIP[@]}" -e .  # spanrun with its runtime dependencies
  # pip must not have upgraded openai through a dependency
  "$VENV/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION')"
  echo "$WANT" > "$STAMP"
fi

echo "openai $("$VENV/bin/python" -c 'import openai; print(openai.__version__)'): tests/openai"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/openai "$@"
