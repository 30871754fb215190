#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test (driven by playwright-core, which ships no
# browser). Idempotent: installs Debian's chromium package when missing, then prints its path.
set -euo pipefail

for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
if [ "$(id -u)" != 0 ]; then
  echo "chromium: not installed; install it with: sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "chromium: installing Debian's chromium package with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null; } \
  || { echo "chromium: apt-get install chromium failed; run it by hand to see why" >&2; exit 1; }
echo /usr/bin/chromium
