#!/usr/bin/env bash
# Install the browser the dashboard's browser tests drive: Debian's chromium.
#
# Idempotent: does nothing when chromium is already on the machine. Playwright
# drives this system browser (its own browser download is not used).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-browser.sh: run as root (or install sudo) to apt-get chromium" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
echo "chromium installed: $(command -v chromium)"
