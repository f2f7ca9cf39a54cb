# Process helpers shared by the service scripts (sourced, not run).

# Alive = exists and not a zombie (this machine's PID 1 reaps orphans late, so a dead daemon can
# stay visible to kill -0 for a while).
proc_alive() {
  local stat
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"   # the state is the first field after "(comm) "
  [ "${stat%% *}" != "Z" ]
}

# PID from PIDFILE if that process is alive and its command line contains MARK
# (guards against a stale pidfile whose PID was reused). Prints the PID.
proc_from_pidfile() {
  local pidfile="$1" mark="$2" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  proc_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$mark" || return 1
  printf '%s\n' "$pid"
}
