#!/usr/bin/env bash
# Lab BMCs over Redfish: sushy-emulator (PyPI sushy-tools) with its fake driver, one system per
# lab host (name = host name, power Off) plus optional extra systems for benchmarks, HTTP basic
# auth against a bcrypt htpasswd, state kept under $LAB_DIR/redfish/state.
#
# Usage: scripts/lab/redfish.sh up|down|status|check
#   up      write the config, start the emulator if needed (restart if the config changed),
#           wait for /redfish/v1, write the inventory
#   down    stop the emulator (credentials and state kept)
#   status  exit 1 unless the emulator answers
#   check   sushy client end to end: list systems, power the first host On, poll until On,
#           then restore its earlier power state
#
# Environment (see also scripts/lab/common.sh: LAB_DIR, LAB_HOSTS, LAB_SUBNET ...):
#   LAB_REDFISH_PORT    TCP port                                    (default: 18000)
#   LAB_REDFISH_HOST    listen address                              (default: 127.0.0.1)
#   LAB_REDFISH_EXTRA   extra systems lab-extra-001..N (benchmarks) (default: 0)
#   LAB_REDFISH_FAST    1: power changes settle within 1 s instead of 0-11 s  (default: 0)
#   LAB_REDFISH_DELAY   LOW:HIGH seconds added by the fake driver, overrides FAST (e.g. 0:0)
#   LAB_REDFISH_USER    user name written on first `up`             (default: admin)
#   LAB_REDFISH_BCRYPT_ROUNDS  bcrypt cost of the htpasswd entry; the emulator checks it on
#                       every request, so it bounds requests/s      (default: 8, about 15 ms)
#   LAB_START_TIMEOUT   seconds to wait for the HTTP endpoint       (default: 15)
#
# Files under $LAB_DIR/redfish: credentials (username=/password=, mode 600, generated once),
# htpasswd (bcrypt), emulator.conf, systems.json, systems.ids, state/, emulator.pid, emulator.log.
LAB_COMPONENT=redfish
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LAB_REDFISH_PORT="${LAB_REDFISH_PORT:-18000}"
LAB_REDFISH_HOST="${LAB_REDFISH_HOST:-127.0.0.1}"
LAB_REDFISH_EXTRA="${LAB_REDFISH_EXTRA:-0}"
LAB_REDFISH_USER="${LAB_REDFISH_USER:-admin}"
LAB_REDFISH_BCRYPT_ROUNDS="${LAB_REDFISH_BCRYPT_ROUNDS:-8}"
LAB_START_TIMEOUT="${LAB_START_TIMEOUT:-15}"
export LAB_HOSTS LAB_HOST_PREFIX LAB_SUBNET LAB_REDFISH_PORT LAB_REDFISH_HOST LAB_REDFISH_EXTRA
export LAB_REDFISH_FAST="${LAB_REDFISH_FAST:-0}" LAB_REDFISH_DELAY="${LAB_REDFISH_DELAY:-}"
[[ "$LAB_REDFISH_PORT" =~ ^[0-9]+$ ]] || lab_die "LAB_REDFISH_PORT must be a number"
[[ "$LAB_REDFISH_EXTRA" =~ ^[0-9]+$ ]] || lab_die "LAB_REDFISH_EXTRA must be a number"
[[ "$LAB_REDFISH_USER" =~ ^[A-Za-z0-9_.-]+$ ]] || lab_die "bad LAB_REDFISH_USER"

RDIR="$LAB_DIR/redfish"
PID_FILE="$RDIR/emulator.pid"
LOG_FILE="$RDIR/emulator.log"
CONF="$RDIR/emulator.conf"
MARK="$CONF"   # in the emulator's command line: identifies our process
URL="https://$LAB_REDFISH_HOST:$LAB_REDFISH_PORT"
CERT="$RDIR/tls.crt"

# A self-signed certificate for the emulator's address (the portal refuses plain-http BMCs).
make_cert() { lab_make_cert "$RDIR" "$LAB_REDFISH_HOST" aimatrix-lab-bmc || true; }

require_python() {
  "$LAB_PYTHON" -c 'import sushy_tools, sushy, bcrypt' 2>/dev/null ||
    lab_die "$LAB_PYTHON lacks sushy-tools/sushy/bcrypt (scripts/install.sh test installs requirements/dev.txt)"
}

cmd_up() {
  require_python
  local t0 pid
  t0="$(lab_now_ms)"
  mkdir -p "$RDIR/state"
  chmod 700 "$RDIR"
  "${LAB_TOOL[@]}" creds "$RDIR/credentials" "$LAB_REDFISH_USER" 24
  "${LAB_TOOL[@]}" redfish-htpasswd "$RDIR/credentials" "$RDIR/htpasswd" "$LAB_REDFISH_BCRYPT_ROUNDS"
  make_cert
  cp -p "$CONF" "$CONF.old" 2>/dev/null || true
  "${LAB_TOOL[@]}" redfish-config "$LAB_DIR"
  if pid="$(lab_pid "$PID_FILE" "$MARK")"; then
    if cmp -s "$CONF" "$CONF.old" && [ "$(cat "$RDIR/htpasswd.started" 2>/dev/null)" = "$(cat "$RDIR/htpasswd")" ]; then
      rm -f "$CONF.old"
      "${LAB_TOOL[@]}" wait-http "$URL/redfish/v1" "$LAB_START_TIMEOUT" "$CERT"
      "${LAB_TOOL[@]}" redfish-publish "$LAB_DIR"
      lab_log "already up at $URL (pid $pid)"
      return
    fi
    lab_log "configuration changed: restarting the emulator"
    lab_stop_pid "$PID_FILE" "$MARK"
  fi
  # The fake driver keeps systems in state/ keyed by UUID and only adds new ones: start
  # from a clean state when the set of systems changed, so removed ones disappear.
  if ! cmp -s "$RDIR/systems.ids" "$RDIR/systems.ids.started"; then
    rm -rf "$RDIR/state"
    mkdir -p "$RDIR/state"
  fi
  rm -f "$CONF.old"
  if "${LAB_TOOL[@]}" wait-http "$URL/redfish/v1" 0.2 "$CERT" 2>/dev/null; then
    lab_die "$URL already answers but is not the emulator of $LAB_DIR (port taken? set LAB_REDFISH_PORT)"
  fi
  setsid "$LAB_PYTHON" "$LAB_SCRIPTS/sushy_emulator.py" --config "$CONF" </dev/null >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  if ! "${LAB_TOOL[@]}" wait-http "$URL/redfish/v1" "$LAB_START_TIMEOUT" "$CERT"; then
    tail -n 30 "$LOG_FILE" >&2 || true
    lab_stop_pid "$PID_FILE" "$MARK"
    lab_die "emulator did not come up"
  fi
  cp "$RDIR/systems.ids" "$RDIR/systems.ids.started"
  cp "$RDIR/htpasswd" "$RDIR/htpasswd.started"
  "${LAB_TOOL[@]}" redfish-publish "$LAB_DIR"
  lab_log "up at $URL (pid $(cat "$PID_FILE"), ${#LAB_HOST_NAMES[@]} host systems + $LAB_REDFISH_EXTRA extra, power delay $(sed -n 's/^AIMX_LAB_POWER_DELAY = //p' "$CONF") s) in $(($(lab_now_ms) - t0)) ms"
}

cmd_down() {
  lab_stop_pid "$PID_FILE" "$MARK"
  lab_unpublish redfish
  lab_log "down (credentials and state kept under $RDIR)"
}

cmd_status() {
  local pid
  if pid="$(lab_pid "$PID_FILE" "$MARK")" && "${LAB_TOOL[@]}" wait-http "$URL/redfish/v1" 2 "$CERT" 2>/dev/null; then
    lab_log "up at $URL (pid $pid)"
  else
    lab_log "not running ($RDIR)"
    exit 1
  fi
}

cmd_check() {
  require_python
  "${LAB_TOOL[@]}" redfish-check "$LAB_DIR"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  check) cmd_check ;;
  *) echo "usage: $0 up|down|status|check" >&2; exit 2 ;;
esac
