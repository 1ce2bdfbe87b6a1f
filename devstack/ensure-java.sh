#!/usr/bin/env sh
# DynamoDB Local needs a Java 17+ runtime. Install Debian's when missing and we may (root with
# apt-get); otherwise say exactly what to run.
set -eu
major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if command -v java >/dev/null 2>&1 && [ "$(major)" -ge 17 ] 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing a Java 17 runtime for DynamoDB Local (openjdk-17-jre-headless)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
  exit 0
fi
echo "DynamoDB Local needs Java 17 or newer, and none was found." >&2
echo "Install it, then run make again: sudo apt-get install openjdk-17-jre-headless (Debian/Ubuntu)," >&2
echo "or brew install openjdk@17 (macOS)." >&2
exit 2
