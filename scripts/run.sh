#!/usr/bin/env bash
# `make run`: install what is missing, migrate, create the admin, make sure Redis answers, then
# run everything in the foreground (Procfile): on the one URL a small nginx front (scripts/front.sh)
# sends /ws/ to daphne and the rest to gunicorn; Celery workers per queue group, and beat.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/install.sh run
PY=.venv/bin/python
# While `make lab` is up, use its PostgreSQL and Redis instead of the embedded defaults.
if [ -f var/lab/env ] && [ -z "${DATABASE_URL:-}" ]; then
  echo "run: using the lab's services (var/lab/env)"
  set -a; . var/lab/env; set +a
fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export AIMATRIX_HOST="${AIMATRIX_HOST:-127.0.0.1}" AIMATRIX_PORT="${AIMATRIX_PORT:-8000}"
# Behind the front: gunicorn and daphne listen on loopback only, on the next two ports.
export AIMATRIX_WEB_BIND="${AIMATRIX_WEB_BIND:-127.0.0.1:$((AIMATRIX_PORT + 1))}"
export AIMATRIX_WS_PORT="${AIMATRIX_WS_PORT:-$((AIMATRIX_PORT + 2))}"
# The front is a proxy on this machine: believe its X-Real-IP / X-Forwarded-For (client addresses).
export AIMATRIX_TRUSTED_PROXIES="${AIMATRIX_TRUSTED_PROXIES:+$AIMATRIX_TRUSTED_PROXIES,}127.0.0.1"
# Worker counts, pool sizes and queue groups (aimatrix/topology.py; any already set wins).
eval "$($PY -m aimatrix.topology --shell)"

# -v 0: quiet when all is well; a failed migration prints its error and stops here (set -e).
$PY manage.py migrate --noinput -v 0
$PY manage.py ensure_admin

# Start a private Redis only when nothing answers at REDIS_URL (and it points at this machine).
started_redis=""
if ! $PY -c "import redis,os,sys; redis.Redis.from_url(os.environ['REDIS_URL'], socket_connect_timeout=1).ping()" 2>/dev/null; then
  port=$($PY -c "from urllib.parse import urlsplit; import os; u=urlsplit(os.environ['REDIS_URL']); print(u.port or 6379) if u.hostname in ('127.0.0.1','localhost') else print('')")
  if [ -z "$port" ]; then echo "run: nothing answers at REDIS_URL and it is not local; start Redis there first" >&2; exit 1; fi
  REDIS_DIR="$ROOT/var/redis-run" REDIS_PORT="$port" scripts/redis.sh start
  started_redis="$port"
fi
cleanup() { [ -n "$started_redis" ] && REDIS_DIR="$ROOT/var/redis-run" REDIS_PORT="$started_redis" scripts/redis.sh stop || true; }
trap cleanup EXIT

creds="${AIMATRIX_ADMIN_CREDENTIALS_FILE:-var/admin-credentials}"
user=$(sed -n 's/^username=//p' "$creds" 2>/dev/null || echo admin)
cat <<MSG

  AI Infra Matrix is starting: http://${AIMATRIX_HOST}:${AIMATRIX_PORT}/
  Log in as '${user}'; the password was printed when the account was created and is kept in
  ${creds} (mode 600). Ctrl-C stops everything (front, gunicorn, daphne, workers, beat).

MSG
.venv/bin/honcho start -f Procfile
