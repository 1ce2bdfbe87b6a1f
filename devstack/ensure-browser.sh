#!/usr/bin/env sh
# The inspector's browser test (tests/e2e/test_inspector.py) drives Debian's chromium through
# chromium-driver. Install them when missing and we may (root with apt-get); otherwise say
# exactly what to run.
set -eu
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing a headless browser for the inspector's test (chromium, chromium-driver)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  exit 0
fi
echo "The inspector's browser test needs /usr/bin/chromium and /usr/bin/chromedriver, and they were not found." >&2
echo "Install them, then run make again: sudo apt-get install chromium chromium-driver (Debian/Ubuntu)." >&2
exit 2
