# shellcheck shell=bash
# Shared settings and helpers of the lab scripts (sourced by hosts.sh, redfish.sh, ipmi.sh).
#
# Every name, address, port and directory comes from the environment so that several labs
# (`make lab`, the test suite, a benchmark) can run side by side on one machine:
#
#   LAB_DIR          state, keys, configs, logs, inventory.json    (default: <repo>/var/lab)
#   LAB_PYTHON       interpreter with sushy/sushy-tools/bcrypt      (default: <repo>/.venv/bin/python)
#   LAB_HOSTS        host names ("lab-node1 lab-node2", commas ok) or a count N
#                    giving ${LAB_HOST_PREFIX}1..N                   (default: 3)
#   LAB_HOST_PREFIX  name prefix used when LAB_HOSTS is a count      (default: lab-node)
#   LAB_SUBNET       first three octets of the /24 of the hosts      (default: 10.77.0)
#                    (.1 is the bridge; host i gets .(i+1))
#   LAB_BRIDGE       bridge on the machine side                      (default: aimx-br0)
#   LAB_NETNS_PREFIX prefix of the network namespace names           (default: "$LAB_BRIDGE-")
set -euo pipefail

LAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LAB_SCRIPTS="$LAB_ROOT/scripts/lab"

LAB_DIR="${LAB_DIR:-$LAB_ROOT/var/lab}"
case "$LAB_DIR" in /*) ;; *) LAB_DIR="$PWD/$LAB_DIR" ;; esac
LAB_PYTHON="${LAB_PYTHON:-$LAB_ROOT/.venv/bin/python}"
[ -x "$LAB_PYTHON" ] || LAB_PYTHON="$(command -v python3)"
LAB_HOSTS="${LAB_HOSTS:-3}"
LAB_HOST_PREFIX="${LAB_HOST_PREFIX:-lab-node}"
LAB_SUBNET="${LAB_SUBNET:-10.77.0}"
LAB_BRIDGE="${LAB_BRIDGE:-aimx-br0}"
LAB_NETNS_PREFIX="${LAB_NETNS_PREFIX:-$LAB_BRIDGE-}"
LAB_TOOL=("$LAB_PYTHON" "$LAB_SCRIPTS/labtool.py")

lab_die() { printf '%s: ERROR: %s\n' "$LAB_COMPONENT" "$*" >&2; exit 1; }
lab_log() { printf '%s: %s\n' "$LAB_COMPONENT" "$*"; }

# Paths end up unquoted in sshd_config and in ipmi_sim's popen() command line: keep them plain.
[[ "$LAB_DIR" =~ ^/[A-Za-z0-9._/+-]+$ ]] || lab_die "LAB_DIR must be an absolute path of [A-Za-z0-9._/+-] characters: '$LAB_DIR'"
[[ "$LAB_SUBNET" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || lab_die "LAB_SUBNET must look like 10.77.0, got '$LAB_SUBNET'"
[[ "$LAB_BRIDGE" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || lab_die "LAB_BRIDGE must be 1-15 characters [A-Za-z0-9_.-]: '$LAB_BRIDGE'"

# LAB_HOST_NAMES: the configured host names, in order.
LAB_HOST_NAMES=()
if [[ "$LAB_HOSTS" =~ ^[0-9]+$ ]]; then
  for ((i = 1; i <= LAB_HOSTS; i++)); do LAB_HOST_NAMES+=("$LAB_HOST_PREFIX$i"); done
else
  read -r -a LAB_HOST_NAMES <<<"${LAB_HOSTS//,/ }"
fi
[ "${#LAB_HOST_NAMES[@]}" -le 250 ] || lab_die "at most 250 hosts per /24 (LAB_HOSTS)"
for _name in "${LAB_HOST_NAMES[@]}"; do
  # A hostname label: it becomes a netns name, a directory and the UTS hostname.
  [[ "$_name" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || lab_die "bad host name '$_name' (lowercase letters, digits, '-')"
done
unset _name

# Address of the i-th host (1-based) in a /24 given by its first three octets.
lab_host_address() { printf '%s.%d\n' "$1" "$(($2 + 1))"; }

# shellcheck source=../lib/proc.sh
. "$LAB_ROOT/scripts/lib/proc.sh"
lab_alive() { proc_alive "$@"; }
lab_pid() { proc_from_pidfile "$@"; }

# Stop the process in PIDFILE (checked against MARK): SIGTERM, then SIGKILL after TIMEOUT s.
lab_stop_pid() {
  local pidfile="$1" mark="$2" timeout="${3:-10}" pid waited=0
  if pid="$(lab_pid "$pidfile" "$mark")"; then
    kill "$pid" 2>/dev/null || true
    while lab_alive "$pid"; do
      waited=$((waited + 1))
      if [ "$waited" -gt $((timeout * 20)) ]; then
        kill -9 "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.05
    done
  fi
  rm -f "$pidfile"
}

lab_require_root() {
  [ "$(id -u)" -eq 0 ] || lab_die "must run as root (network namespaces, users, privileged ports)"
}

lab_require_cmds() {
  local c missing=()
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  [ "${#missing[@]}" -eq 0 ] || lab_die "missing commands: ${missing[*]} (scripts/install.sh test installs them)"
}

# Drop this component's part of the inventory and rebuild inventory.json.
lab_unpublish() {
  [ -d "$LAB_DIR/inventory.d" ] || return 0
  "${LAB_TOOL[@]}" unpublish "$LAB_DIR" "$1"
}

# Monotonic-ish milliseconds for the timings the scripts print.
lab_now_ms() { date +%s%3N; }

lab_fail_with_log() {  # LOG MESSAGE: the log's tail, then die with the message
  echo "--- $1 (tail)" >&2
  tail -n 25 "$1" >&2 2>/dev/null || true
  lab_die "$2"
}

lab_write_if_changed() {  # FILE MODE (content on stdin); returns 0 if it changed
  local new
  new="$(cat)"
  if [ -f "$1" ] && [ "$(cat "$1")" = "$new" ]; then chmod "$2" "$1"; return 1; fi
  printf '%s\n' "$new" >"$1.tmp.$$"
  chmod "$2" "$1.tmp.$$"
  mv "$1.tmp.$$" "$1"
}

lab_make_cert() {  # DIR HOST CN: a self-signed EC certificate DIR/tls.crt + tls.key for HOST (an IP or
  # a DNS name), made again only when HOST changed; returns 0 if it was made, 1 if kept
  local dir="$1" host="$2" cn="$3" san
  if [ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ] && [ "$(cat "$dir/tls.host" 2>/dev/null)" = "$host" ]; then
    return 1
  fi
  san="DNS:$host"
  [[ "$host" =~ ^[0-9.]+$|: ]] && san="IP:$host"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" -subj "/CN=$cn" -addext "subjectAltName=$san" \
    >/dev/null 2>&1 || lab_die "openssl could not make the certificate for $host"
  chmod 600 "$dir/tls.key"
  chmod 644 "$dir/tls.crt"
  printf '%s' "$host" >"$dir/tls.host"
}
