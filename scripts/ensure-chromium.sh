#!/usr/bin/env bash
# The browser tests drive Debian's chromium (pip's Playwright cannot download a browser here).
# Installs it when this user may (root, or password-less sudo); otherwise stops with one line.
set -euo pipefail
if [ -n "${BOROUGH_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  echo "make test needs Chromium for the browser tests: install it (apt-get install chromium) or set BOROUGH_CHROMIUM to a Chromium binary." >&2
  exit 1
fi
echo "Installing Debian's chromium for the browser tests (apt-get) …"
"${as_root[@]}" apt-get update -q >/dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
