#!/usr/bin/env bash
# Set up everything the demo and the tests need on a fresh Debian machine:
# system packages (PostgreSQL server binaries for the test suite), a virtualenv in .venv and the
# package with its dev extras. Safe to re-run; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_pg="${1:-}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

have_pg() {
  command -v initdb >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if [ "$want_pg" = "--with-postgres" ] && ! have_pg; then
  echo "setup: installing PostgreSQL server binaries (Debian package postgresql)" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.spanrun-setup
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
  touch "$stamp"
fi
