#!/usr/bin/env bash
# `make screenshots`: install test dependencies, start a private PostgreSQL and Redis (own dirs
# under var/screenshots-services/, own ports), migrate a fresh database, then capture the main
# pages at desktop and phone width into var/screenshots/ (python -m devtools.screenshots).
# The dashboard and live-job desktop shots are copied to docs/img/ for the README.
#
# Environment (all optional):
#   SCREENSHOTS_PG_PORT     PostgreSQL port   (default 25832)
#   SCREENSHOTS_REDIS_PORT  Redis port        (default 26779)
# Extra arguments go to `python -m devtools.screenshots` (e.g. --out /tmp/shots).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/install.sh test

STATE="$ROOT/var/screenshots-services"
export PG_DIR="$STATE/pg" PG_PORT="${SCREENSHOTS_PG_PORT:-25832}"
export REDIS_DIR="$STATE/redis" REDIS_PORT="${SCREENSHOTS_REDIS_PORT:-26779}"
export PG_PASSWORD="${SCREENSHOTS_PG_PASSWORD:-aimatrix-screenshots}"
cleanup() { scripts/redis.sh stop || true; scripts/pg.sh stop || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A fresh cluster every run: the same demo fleet, nothing left from the last one.
scripts/pg.sh stop >/dev/null 2>&1 || true
rm -rf "$PG_DIR" "$STATE/app"
scripts/pg.sh start
scripts/redis.sh start

export DATABASE_URL="$(scripts/pg.sh url)"
export REDIS_URL="$(scripts/redis.sh url)"
export AIMATRIX_VAR_DIR="$STATE/app"
export AIMATRIX_LOG_LEVEL="${AIMATRIX_LOG_LEVEL:-WARNING}"
mkdir -p "$AIMATRIX_VAR_DIR"

.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python -m devtools.screenshots "$@"
