#!/usr/bin/env bash
# `make lab` / `make lab-down`: the local lab of real hosts and services the portal manages:
# PostgreSQL and Redis for a production-like portal, three hosts with their own sshd in network
# namespaces (scripts/lab/hosts.sh), a Redfish emulator with one system per host and an IPMI
# simulator for one host; all registered in the portal (nodes, trusted host keys, BMCs,
# credentials in the key vault); Slurm (scripts/lab/slurm.sh): a managed cluster on the hosts
# with accounting and a small external cluster on two hosts of its own; Salt (scripts/lab/salt.sh):
# salt-master + salt-api on the bridge and a minion per host, keys pending until the portal accepts.
#
# `up` writes var/lab/env; `make run` picks it up while the lab is up (PostgreSQL instead of
# the embedded SQLite). Ports and directories are configurable:
#   LAB_DIR (var/lab)  LAB_PG_PORT (25732)  LAB_REDIS_PORT (26679)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LAB_DIR="${LAB_DIR:-$ROOT/var/lab}"
export LAB_DIR
export PG_DIR="$LAB_DIR/pg" PG_PORT="${LAB_PG_PORT:-25732}" PG_PASSWORD="${LAB_PG_PASSWORD:-aimatrix-lab}"
export REDIS_DIR="$LAB_DIR/redis" REDIS_PORT="${LAB_REDIS_PORT:-26679}"
ENV_FILE="$LAB_DIR/env"

up() {
  scripts/install.sh test
  mkdir -p "$LAB_DIR"
  scripts/pg.sh start
  scripts/redis.sh start
  scripts/lab/hosts.sh up
  scripts/lab/redfish.sh up      # LAB_REDFISH_FAST=1 make lab: power changes settle in 1 s
  scripts/lab/ipmi.sh up
  scripts/lab/slurm.sh up        # LAB_SLURM_EXTERNAL=0 make lab: without the external cluster
  scripts/lab/salt.sh up         # LAB_SALT_ACCEPT=1 make lab: minion keys accepted here
  umask 077
  cat >"$ENV_FILE" <<ENV
DATABASE_URL=$(scripts/pg.sh url)
REDIS_URL=$(scripts/redis.sh url)
AIMATRIX_ADMIN_CREDENTIALS_FILE=$LAB_DIR/admin-credentials
ENV
  set -a; . "$ENV_FILE"; set +a
  .venv/bin/python manage.py migrate --noinput -v 0   # a failed migration stops `up` (set -e)
  .venv/bin/python manage.py ensure_admin
  .venv/bin/python manage.py lab_register --lab-dir "$LAB_DIR"
  .venv/bin/python manage.py lab_register_clusters --lab-dir "$LAB_DIR"  # managed `lab`, external controller
  # scaling through Salt and batch installs on the lab: slurm.node's pillar and the minion source
  .venv/bin/python manage.py lab_settings --lab-dir "$LAB_DIR" >>"$ENV_FILE"
  echo "lab: up. PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"
  echo "lab: hosts, Redfish and IPMI in $LAB_DIR/inventory.json, registered as nodes"
  echo "lab: Slurm clusters in $LAB_DIR/inventory.json (section slurm)"
  echo "lab: Salt (salt-api URL, CA, eauth user, minion key fingerprints) in $LAB_DIR/inventory.json (section salt)"
  echo "lab: settings in $ENV_FILE; 'make run' uses them while the lab is up"
}

down() {
  scripts/lab/salt.sh down || true
  scripts/lab/slurm.sh down || true
  scripts/lab/ipmi.sh down || true
  scripts/lab/redfish.sh down || true
  scripts/lab/hosts.sh down || true
  rm -f "${AIMATRIX_VAR_DIR:-var}/managed-networks.d/lab.txt" "${AIMATRIX_VAR_DIR:-var}/managed-networks.d/lab-slurm-"*.txt  # its addresses stop being managed
  scripts/redis.sh stop || true
  scripts/pg.sh stop || true
  rm -f "$ENV_FILE"
  echo "lab: down (data kept under $LAB_DIR; remove it to start afresh)"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) scripts/pg.sh status && scripts/redis.sh status && scripts/lab/hosts.sh status &&
          scripts/lab/redfish.sh status && scripts/lab/ipmi.sh status && scripts/lab/slurm.sh status &&
          scripts/lab/salt.sh status &&
          echo "lab: up" ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
