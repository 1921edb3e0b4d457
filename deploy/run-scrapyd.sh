#!/usr/bin/env bash
# Run scrapyd with deploy/scrapyd.conf, its eggs, logs and job databases in var/scrapyd/.
# Needs SCRAPYD_PASSWORD (and optionally SCRAPYD_USERNAME, default "christmas").
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${SCRAPYD_PASSWORD:-}" ]; then
    echo "run-scrapyd: set SCRAPYD_PASSWORD (scrapyd's basic-auth password) first" >&2
    exit 2
fi
export SCRAPYD_USERNAME="${SCRAPYD_USERNAME:-christmas}"
workdir="${SCRAPYD_DIR:-$root/var/scrapyd}"
mkdir -p "$workdir"
cp "$root/deploy/scrapyd.conf" "$workdir/scrapyd.conf"
cd "$workdir"
exec "${SCRAPYD:-$root/.venv/bin/scrapyd}" --pidfile=
