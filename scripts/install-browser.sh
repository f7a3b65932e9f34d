#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/test_browser.py) if missing.
# Idempotent: does nothing when /usr/bin/chromium exists. Never runs `playwright install`:
# the tests drive the system Chromium through Playwright's executable_path.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
