#!/usr/bin/env bash
# Private, throw-away PostgreSQL 15 for tests and benchmarks.
# It never touches the system cluster: own data dir, own port, own socket dir.
#
# Usage: scripts/pg.sh start|stop|status|url
#
# Environment (all optional):
#   PG_DIR       state dir (data/, run/, postgres.log)  (default: $PWD/var/pg)
#   PG_PORT      TCP port on 127.0.0.1                    (default: 25432)
#   PG_DB        database created for the app             (default: aimatrix)
#   PG_USER      login role created for the app           (default: aimatrix)
#   PG_PASSWORD  password of that role                    (default: aimatrix-test)
#   PG_BIN       PostgreSQL binaries  (default: /usr/lib/postgresql/15/bin)
#   PG_OS_USER   OS user running the server when invoked as root (default: postgres)
#   PG_START_TIMEOUT  seconds to wait for readiness      (default: 20)
#
# As root the server runs as PG_OS_USER, which must reach its data and socket dirs. When it
# cannot reach PG_DIR (a checkout under /root, say), the cluster lives in a directory of its own
# under PG_OS_USER's home (/var/lib/postgresql/aimatrix/<hash of PG_DIR>) and PG_DIR/cluster
# points there; no permission outside PG_DIR is ever changed. `pg.sh where` prints the place.
#
# Durability is switched off (fsync etc.): this is for disposable test data only.
set -euo pipefail

PG_DIR="${PG_DIR:-$PWD/var/pg}"
PG_PORT="${PG_PORT:-25432}"
PG_DB="${PG_DB:-aimatrix}"
PG_USER="${PG_USER:-aimatrix}"
PG_PASSWORD="${PG_PASSWORD:-aimatrix-test}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_OS_USER="${PG_OS_USER:-postgres}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-20}"
# Bootstrap superuser is fixed so we know whom to connect as over the socket,
# whichever OS user ran initdb.
PG_SUPERUSER="postgres"

# Absolute paths: pg_ctl and the server resolve relative ones differently.
# (Not created here, so `url`/`status` leave no trace.)
case "$PG_DIR" in /*) ;; *) PG_DIR="$PWD/$PG_DIR" ;; esac

log() { printf 'pg: %s\n' "$*"; }
die() { printf 'pg: ERROR: %s\n' "$*" >&2; exit 1; }

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# The directory of PG_OS_USER's own that stands in for PG_DIR when PG_OS_USER cannot reach it
# (empty when that user does not exist).
standin_dir() {
  local home
  home="$(getent passwd "$PG_OS_USER" | cut -d: -f6)"
  if [ -n "$home" ]; then
    printf '%s/aimatrix/%s\n' "$home" "$(printf '%s' "$PG_DIR" | sha256sum | cut -c1-16)"
  fi
}

# Can PG_OS_USER get into PG_DIR's parent (or, before it exists, its nearest existing
# ancestor)? PG_DIR itself is ours: it is handed to PG_OS_USER on start.
reachable_by_pg() {
  local d
  d="$(dirname "$PG_DIR")"
  while [ ! -e "$d" ]; do d="$(dirname "$d")"; done
  runuser -u "$PG_OS_USER" -- test -x "$d"
}

# Where data/, run/ and postgres.log live: PG_DIR itself unless the server could not reach it.
# A cluster already in the stand-in stays there.
state_dir() {
  local standin=""
  [ "$IS_ROOT" -eq 1 ] && standin="$(standin_dir)"
  if [ -n "$standin" ] && { [ -f "$standin/data/PG_VERSION" ] || ! reachable_by_pg; }; then
    printf '%s\n' "$standin"
  else
    printf '%s\n' "$PG_DIR"
  fi
}

STATE_DIR="$(state_dir)"
DATA_DIR="$STATE_DIR/data"
SOCK_DIR="$STATE_DIR/run"
LOG_FILE="$STATE_DIR/postgres.log"

# initdb/pg_ctl refuse to run as root, so drop to the postgres OS user;
# a non-root caller simply owns everything itself.
as_pg() {
  if [ "$IS_ROOT" -eq 1 ]; then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

# psql as the bootstrap superuser over the private socket (trust auth).
# -X ignores ~/.psqlrc so user settings can't change behaviour.
psql_su() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PG_PORT" \
    -U "$PG_SUPERUSER" -d postgres "$@"
}

is_running() {
  [ -f "$DATA_DIR/PG_VERSION" ] || return 1
  as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1
}

# Percent-encode for the URL (the default credentials need none of it).
urlencode() {
  local s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9.~_-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

# When root: the postgres user owns the state dir (PG_DIR, or its stand-in). Nothing above it
# is touched.
prepare_dirs() {
  if [ "$IS_ROOT" -eq 1 ]; then
    id "$PG_OS_USER" >/dev/null 2>&1 || die "OS user '$PG_OS_USER' does not exist (is postgresql-15 installed?)"
  fi
  mkdir -p "$PG_DIR"
  if [ "$STATE_DIR" = "$PG_DIR" ]; then
    mkdir -p "$SOCK_DIR"
    [ "$IS_ROOT" -eq 1 ] || return 0
    if [ "$(stat -c %U "$PG_DIR")" != "$PG_OS_USER" ] || [ "$(stat -c %U "$SOCK_DIR")" != "$PG_OS_USER" ]; then
      chown -R "$PG_OS_USER:" "$PG_DIR"
    fi
    return 0
  fi
  # Created by the postgres user itself, inside its own home, private to it.
  runuser -u "$PG_OS_USER" -- sh -c 'umask 077 && mkdir -p "$1"' sh "$SOCK_DIR"
  ln -sfn "$STATE_DIR" "$PG_DIR/cluster"
  log "'$PG_OS_USER' cannot reach $PG_DIR; the cluster lives in $STATE_DIR ($PG_DIR/cluster)"
}

init_cluster() {
  [ -f "$DATA_DIR/PG_VERSION" ] && return 0
  log "initdb $DATA_DIR"
  # scram for TCP (the app logs in with a password), trust on the private socket.
  as_pg "$PG_BIN/initdb" -D "$DATA_DIR" -U "$PG_SUPERUSER" -E UTF8 --locale=C.UTF-8 \
    --auth-host=scram-sha-256 --auth-local=trust >/dev/null
}

ensure_role_db() {
  # Variables go through psql's :'var' quoting, so any password is safe.
  # CREATE only when missing; ALTER every time keeps the password in sync with env.
  psql_su -v role="$PG_USER" -v pw="$PG_PASSWORD" -v db="$PG_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
  log "role '$PG_USER' and database '$PG_DB' ready"
}

fail_start() {
  printf 'pg: ERROR: %s; last lines of %s:\n' "$1" "$LOG_FILE" >&2
  tail -n 30 "$LOG_FILE" >&2 || true
  exit 1
}

cmd_start() {
  [ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL binaries not found in $PG_BIN (apt-get install postgresql-15)"
  prepare_dirs
  init_cluster

  if is_running; then
    # Same data dir already up; make sure it's the port we were asked for.
    local running_port
    running_port="$(sed -n 4p "$DATA_DIR/postmaster.pid" 2>/dev/null || true)"
    if [ -n "$running_port" ] && [ "$running_port" != "$PG_PORT" ]; then
      die "already running from $DATA_DIR on port $running_port, not $PG_PORT; stop it first"
    fi
    log "already running (port $PG_PORT, $DATA_DIR)"
  else
    as_pg touch "$LOG_FILE"
    log "starting on 127.0.0.1:$PG_PORT ($DATA_DIR)"
    # pg_ctl -w notices at once if the postmaster dies (e.g. port taken);
    # a plain TCP probe could be answered by some *other* server on the port.
    if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t "$PG_START_TIMEOUT" -o \
      "-k '$SOCK_DIR' -p $PG_PORT -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      fail_start "pg_ctl start failed"
    fi
    # Then confirm it answers on our own socket (unique to this instance).
    local waited=0
    until "$PG_BIN/pg_isready" -q -h "$SOCK_DIR" -p "$PG_PORT" -d postgres -t 1; do
      waited=$((waited + 1))
      [ "$waited" -ge "$PG_START_TIMEOUT" ] && fail_start "not ready after ${PG_START_TIMEOUT}s"
      sleep 1
    done
    log "ready"
  fi
  ensure_role_db
}

cmd_stop() {
  if is_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" stop -m fast >/dev/null
    log "stopped ($DATA_DIR)"
  else
    log "not running ($DATA_DIR)"
  fi
}

cmd_status() {
  if is_running; then
    log "running ($DATA_DIR, port $(sed -n 4p "$DATA_DIR/postmaster.pid" 2>/dev/null || echo "$PG_PORT"))"
  else
    log "not running ($DATA_DIR)"
    exit 1
  fi
}

cmd_url() {
  printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' \
    "$(urlencode "$PG_USER")" "$(urlencode "$PG_PASSWORD")" "$PG_PORT" "$(urlencode "$PG_DB")"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  where) printf '%s\n' "$STATE_DIR" ;;
  *) echo "usage: $0 start|stop|status|url|where" >&2; exit 2 ;;
esac
