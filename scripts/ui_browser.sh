#!/usr/bin/env bash
# Print the path of the Chromium the UI tests drive, installing Debian's `chromium` package
# when none is found (idempotent). Playwright's own browser download is not used.
# SPANRUN_CHROMIUM=/path/to/chromium picks another binary.
set -euo pipefail

find_browser() {
    local candidate
    for candidate in "${SPANRUN_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if find_browser; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the package lists first; a fresh machine needs `apt-get update`.
if ! $sudo apt-get install -y --no-install-recommends chromium >&2; then
    $sudo apt-get update >&2
    $sudo apt-get install -y --no-install-recommends chromium >&2
fi
find_browser
