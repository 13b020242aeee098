#!/usr/bin/env bash
# Runs tests/exporters against the oldest supported OpenTelemetry SDK (1.27.0) in its own venv,
# .venv-otel-oldest (created once, reused): the exporter reads some SDK span fields directly
# (spanrun/exporters/_sdk_fast.py). The main venv covers the newest SDK.
# Usage: bash scripts/otel_compat.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-otel-oldest
OTEL_VERSION=1.27.0
STAMP="$VENV/.otel-compat-stamp"
WANT="opentelemetry-sdk==$OTEL_VERSION v3"

if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  PYTHON=${PYTHON:-python3}
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
  "$PYTHON" -m venv --clear "$VENV"
  PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  # spanrun's runtime dependencies (pyproject.toml; psycopg for the PostgreSQL cases) with the
  # OTel pins and the test tools, then spanrun itself without dependencies: nothing upgrades
  # the SDK.
  # (the OTLP encoder of that release too: tests/exporters/test_otlp_encode.py checks spanrun's
  # OTLP bytes against it)
  "${PIP[@]}" "opentelemetry-api==$OTEL_VERSION" "opentelemetry-sdk==$OTEL_VERSION" \
    "opentelemetry-proto==$OTEL_VERSION" "opentelemetry-exporter-otlp-proto-common==$OTEL_VERSION" \
    "sqlalchemy>=2.0" "alembic>=1.12" "click>=8.1" "pandas>=2.0" "pyyaml>=6.0" \
    "wrapt>=1.16" "orjson>=3.9" "psycopg[binary]>=3.1" \
    "pytest>=8" "pytest-asyncio>=0.23" "pytest-timeout>=2.2" "hypothesis>=6"
  "${PIP[@]}" --no-deps -e .
  # pip must not have upgraded the SDK through a dependency
  "$VENV/bin/python" -c "
import sys
from importlib.metadata import version
sys.exit(any(version(p) != '$OTEL_VERSION' for p in ('opentelemetry-api', 'opentelemetry-sdk')))"
  echo "$WANT" > "$STAMP"
fi

echo "opentelemetry-sdk $("$VENV/bin/python" -c \
  'from importlib.metadata import version; print(version("opentelemetry-sdk"))'): tests/exporters"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/exporters "$@"
