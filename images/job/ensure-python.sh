#!/bin/sh
# Make /usr/local/bin/wattstream-python a Python >= 3.11 (wattstream's minimum) on the Spark base
# image: its own python3 when new enough, else the distribution's python3.11 package.
set -eu

ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

if command -v python3 >/dev/null && ok python3; then
  ln -sf "$(command -v python3)" /usr/local/bin/wattstream-python
else
  apt-get update
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
  rm -rf /var/lib/apt/lists/*
  ln -sf "$(command -v python3.11)" /usr/local/bin/wattstream-python
fi
ok /usr/local/bin/wattstream-python
/usr/local/bin/wattstream-python --version
