#!/usr/bin/env bash
# `make lab` / `make lab-down`: the local lab of real services the portal manages.
# Today: PostgreSQL and Redis for a production-like portal. Later: hosts in network namespaces,
# Slurm, Salt and BMC emulators, registered in the portal.
#
# `up` writes var/lab/env; `make run` picks it up while the lab is up (PostgreSQL instead of
# the embedded SQLite). Ports and directories are configurable:
#   LAB_DIR (var/lab)  LAB_PG_PORT (55732)  LAB_REDIS_PORT (56679)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LAB_DIR="${LAB_DIR:-$ROOT/var/lab}"
export PG_DIR="$LAB_DIR/pg" PG_PORT="${LAB_PG_PORT:-55732}" PG_PASSWORD="${LAB_PG_PASSWORD:-aimatrix-lab}"
export REDIS_DIR="$LAB_DIR/redis" REDIS_PORT="${LAB_REDIS_PORT:-56679}"
ENV_FILE="$LAB_DIR/env"

up() {
  scripts/install.sh test
  mkdir -p "$LAB_DIR"
  scripts/pg.sh start
  scripts/redis.sh start
  umask 077
  cat >"$ENV_FILE" <<ENV
DATABASE_URL=$(scripts/pg.sh url)
REDIS_URL=$(scripts/redis.sh url)
AIMATRIX_ADMIN_CREDENTIALS_FILE=$LAB_DIR/admin-credentials
ENV
  set -a; . "$ENV_FILE"; set +a
  .venv/bin/python manage.py migrate --noinput | grep -v '^  Applying' || true
  .venv/bin/python manage.py ensure_admin
  echo "lab: up. PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"
  echo "lab: settings in $ENV_FILE; 'make run' uses them while the lab is up"
}

down() {
  scripts/redis.sh stop || true
  scripts/pg.sh stop || true
  rm -f "$ENV_FILE"
  echo "lab: down (data kept under $LAB_DIR; remove it to start afresh)"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) scripts/pg.sh status && scripts/redis.sh status && echo "lab: up" ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
