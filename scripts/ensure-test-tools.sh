#!/usr/bin/env bash
# What `make test` needs besides Python: Debian's chromium for the browser tests (pip's
# Playwright cannot download a browser here) and npm for their widget host and for the check
# that the vendored Compound tokens are the locked ones. Installs what is
# missing when this user may (root, or password-less sudo); otherwise stops with one line.
set -euo pipefail
missing=()
if [ -z "${BOROUGH_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && ! command -v chromium-browser >/dev/null 2>&1; then
  missing+=(chromium)
fi
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  echo "make test needs ${missing[*]}: install them (apt-get install ${missing[*]}); a Chromium elsewhere can be named in BOROUGH_CHROMIUM." >&2
  exit 1
fi
echo "Installing ${missing[*]} for the tests (apt-get) …"
"${as_root[@]}" apt-get update -q >/dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
