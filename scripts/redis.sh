#!/usr/bin/env bash
# Private Redis for tests, benchmarks, the lab and `make run`: own port, own dir; never touches
# a system redis. The append-only file is on by default (fsync every second): queued Celery tasks
# and reserved ones survive a Redis restart or crash instead of vanishing.
#
# Usage: scripts/redis.sh start|stop|status|url
#
# Environment (all optional):
#   REDIS_DIR            state dir (redis.pid, redis.log)  (default: $PWD/var/redis)
#   REDIS_PORT           TCP port on 127.0.0.1              (default: 26379)
#   REDIS_START_TIMEOUT  seconds to wait for PONG           (default: 10)
#   REDIS_STOP_TIMEOUT   seconds to wait for exit           (default: 10)
#   REDIS_APPENDONLY     yes|no: keep an append-only file   (default: yes)
set -euo pipefail

REDIS_DIR="${REDIS_DIR:-$PWD/var/redis}"
REDIS_PORT="${REDIS_PORT:-26379}"
REDIS_START_TIMEOUT="${REDIS_START_TIMEOUT:-10}"
REDIS_STOP_TIMEOUT="${REDIS_STOP_TIMEOUT:-10}"
REDIS_APPENDONLY="${REDIS_APPENDONLY:-yes}"
case "$REDIS_APPENDONLY" in yes|no) ;; *) echo "redis: REDIS_APPENDONLY must be yes or no" >&2; exit 2 ;; esac

# redis-server resolves paths after chdir to --dir, so make them absolute.
case "$REDIS_DIR" in /*) ;; *) REDIS_DIR="$PWD/$REDIS_DIR" ;; esac
PID_FILE="$REDIS_DIR/redis.pid"
LOG_FILE="$REDIS_DIR/redis.log"

log() { printf 'redis: %s\n' "$*"; }
die() { printf 'redis: ERROR: %s\n' "$*" >&2; exit 1; }

cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

pong() { [ "$(cli ping 2>/dev/null || true)" = "PONG" ]; }

# shellcheck source=lib/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"
alive() { proc_alive "$@"; }
our_pid() { proc_from_pidfile "$PID_FILE" redis-server; }

cmd_start() {
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found (apt-get install redis-server)"
  if our_pid >/dev/null; then
    pong || die "pid $(our_pid) from $PID_FILE is alive but 127.0.0.1:$REDIS_PORT does not answer (started on another port?)"
    log "already running (port $REDIS_PORT, pid $(our_pid))"
    return 0
  fi
  # Something else owns the port: refuse instead of silently sharing it.
  pong && die "port $REDIS_PORT already answered by a redis not started from $REDIS_DIR"

  mkdir -p "$REDIS_DIR"
  rm -f "$PID_FILE"
  # No RDB snapshots; the append-only file (under $REDIS_DIR/appendonlydir) is replayed on start.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly "$REDIS_APPENDONLY" \
    --appendfsync everysec --daemonize yes --pidfile "$PID_FILE" --logfile "$LOG_FILE" --dir "$REDIS_DIR"

  local waited=0
  until pong; do
    waited=$((waited + 1))
    if [ "$waited" -gt $((REDIS_START_TIMEOUT * 5)) ]; then
      printf 'redis: ERROR: no PONG on port %s after %ss; last lines of %s:\n' \
        "$REDIS_PORT" "$REDIS_START_TIMEOUT" "$LOG_FILE" >&2
      tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.2
  done
  log "started on 127.0.0.1:$REDIS_PORT (pid $(our_pid || echo '?'))"
}

cmd_stop() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($REDIS_DIR)"
    return 0
  fi
  # Graceful shutdown without writing a dump (the append-only file is flushed), but only if the
  # server on REDIS_PORT is ours (pid matches); otherwise just SIGTERM our pid.
  local port_pid
  port_pid="$(cli info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p' || true)"
  if [ "$port_pid" != "$pid" ] || ! cli shutdown nosave >/dev/null 2>&1; then
    kill "$pid" 2>/dev/null || true
  fi
  local waited=0
  while alive "$pid"; do
    waited=$((waited + 1))
    if [ "$waited" -gt $((REDIS_STOP_TIMEOUT * 5)) ]; then
      log "pid $pid still alive after ${REDIS_STOP_TIMEOUT}s, sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    # Nudge again after 2 s in case the shutdown command got lost.
    if [ "$waited" -eq 10 ]; then kill "$pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(our_pid)"; then
    log "running (port $REDIS_PORT, pid $pid)"
  else
    log "not running ($REDIS_DIR)"
    exit 1
  fi
}

cmd_url() { printf 'redis://127.0.0.1:%s/0\n' "$REDIS_PORT"; }

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
