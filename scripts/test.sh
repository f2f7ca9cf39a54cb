#!/usr/bin/env bash
# `make test`: install test dependencies, start a private PostgreSQL and Redis, run the whole
# suite against them (the suite itself starts Celery workers and daphne), stop what we started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/install.sh test

# Default ports sit below the kernel's ephemeral range (32768-60999), so a port some other
# program picked at random cannot be in the way.
export PG_DIR="${TEST_PG_DIR:-$ROOT/var/test/pg}" PG_PORT="${TEST_PG_PORT:-25432}"
export REDIS_DIR="${TEST_REDIS_DIR:-$ROOT/var/test/redis}" REDIS_PORT="${TEST_REDIS_PORT:-26379}"
export PG_PASSWORD="${TEST_PG_PASSWORD:-aimatrix-test}"
cleanup() { scripts/redis.sh stop || true; scripts/pg.sh stop || true; }
trap cleanup EXIT
scripts/pg.sh start
scripts/redis.sh start

export DATABASE_URL="$(scripts/pg.sh url)"
export REDIS_URL="$(scripts/redis.sh url)"
export AIMATRIX_VAR_DIR="${AIMATRIX_VAR_DIR:-$ROOT/var/test/app}"
# Browsers and helpers keep their profiles inside the job's own directory.
export TEST_HOME="$ROOT/var/test/home"
mkdir -p "$AIMATRIX_VAR_DIR" "$TEST_HOME"

.venv/bin/python -m pytest "$@"
