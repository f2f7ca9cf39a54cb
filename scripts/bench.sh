#!/usr/bin/env bash
# `make bench`: install test dependencies, start a private PostgreSQL and Redis (own dirs under
# var/bench/, own ports), migrate, then run the benchmarks. Results: bench/results/*.json.
#
# Environment (all optional):
#   BENCH_PG_PORT      PostgreSQL port            (default 25632)
#   BENCH_REDIS_PORT   Redis port                 (default 26579)
#   BENCH_KEEP_DB=1    keep var/bench/pg from the last run instead of starting from an empty cluster
#   BENCH_RATES        comma-separated events/s   (default 100,250,500,750,1000,1500,2000,3000,4000,6000,8000)
#   BENCH_SECONDS      emission time per rate     (default 5)
# Extra arguments go to `python -m bench.live_progress` (e.g. make bench ARGS="--rates 500,2000").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/install.sh test

export PG_DIR="$ROOT/var/bench/pg" PG_PORT="${BENCH_PG_PORT:-25632}"
export REDIS_DIR="$ROOT/var/bench/redis" REDIS_PORT="${BENCH_REDIS_PORT:-26579}"
export PG_PASSWORD="${BENCH_PG_PASSWORD:-aimatrix-bench}"
cleanup() { scripts/redis.sh stop || true; scripts/pg.sh stop || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${BENCH_KEEP_DB:-0}" != "1" ]; then
  # A fresh cluster every run: the same starting state, no tables grown by earlier runs.
  scripts/pg.sh stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
fi
scripts/pg.sh start
scripts/redis.sh start

export DATABASE_URL="$(scripts/pg.sh url)"
export REDIS_URL="$(scripts/redis.sh url)"
export AIMATRIX_VAR_DIR="$ROOT/var/bench/app"
mkdir -p "$AIMATRIX_VAR_DIR" bench/results

.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python -m bench.live_progress --out bench/results/live_progress.json "$@"
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.identity --out bench/results/identity.json
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.nodes --out bench/results/nodes.json
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.pages --out bench/results/pages.json
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.api --out bench/results/api.json
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.api_lists --out bench/results/api_lists.json
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.gpu_metrics --out bench/results/gpu_metrics.json
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.gpu_ingest --out bench/results/gpu_ingest.json --skip-chart
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.gpu_ingest --out bench/results/gpu_chart.json --chart-only
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.clusters --out bench/results/clusters.json
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.allocations --out bench/results/allocations.json
AIMATRIX_LOG_LEVEL=WARNING .venv/bin/python -m bench.salt --out bench/results/salt.json
