#!/usr/bin/env bash
# Lab Salt: a salt-master with salt-api (rest_cherrypy, HTTPS with the lab's own certificate,
# `external_auth: file`) on the machine side of the lab bridge, and one salt-minion per lab host
# started INSIDE that host's network namespace (scripts/lab/hosts.sh must be up).
#
# Usage: scripts/lab/salt.sh up|down|status
#   up      idempotent: start what is not running (restart what runs on changed settings), wait
#           until every minion's key reached the master, write the `salt` section of inventory.json
#   down    stop every daemon this LAB_DIR started (by pid file: its process group); keys, job
#           cache and configs are kept
#   status  exit 1 unless master, salt-api and every minion are running
#
# The master NEVER auto-accepts keys (auto_accept: False, open_mode: False): minion keys stay
# PENDING until the portal accepts one whose fingerprint matches what the minion reported
# (LAB_SALT_ACCEPT=1 accepts them here, for convenience). Minions pin the master's key with
# master_finger. The salt-api password lives in a mode-600 credentials file (and the eauth file
# built from it), never on a command line.
#
# Environment (see also common.sh: LAB_DIR, LAB_HOSTS, LAB_SUBNET, LAB_BRIDGE ...):
#   LAB_SALT_VENV          virtualenv with salt (requirements/salt-lab.txt) (default: <repo>/var/salt-venv)
#   LAB_SALT_PUBLISH_PORT  master publish port                      (default: 14505)
#   LAB_SALT_RET_PORT      master request/return port               (default: 14506)
#   LAB_SALT_API_HOST      salt-api address (a loopback or the bridge IP) (default: 127.0.0.1)
#   LAB_SALT_API_PORT      salt-api port                            (default: 14580)
#   LAB_SALT_API_USER      eauth user of the portal                 (default: aimx-portal)
#   LAB_SALT_MINIONS       lab hosts that run a minion              (default: all lab hosts)
#   LAB_SALT_ACCEPT        1: accept the minion keys with salt-key  (default: 0, keys stay pending)
#   LAB_SALT_FILE_ROOTS    the master's file_roots (base)           (default: $LAB_DIR/salt/srv/salt)
#   LAB_SALT_PILLAR_ROOTS  the master's pillar_roots (base)         (default: $LAB_DIR/salt/srv/pillar)
#   LAB_SALT_STATES        the repository's states (slurm.node), a second file_roots entry
#                          (SALT_STATES_DIR of the portal)           (default: <repo>/salt/states)
#   LAB_SALT_WORKERS       master worker_threads                    (default: 3)
#   LAB_SALT_MINION_LOG_LEVEL  the minions' log file level (minions/NAME/root/var/log/salt/minion) (default: info)
#   LAB_START_TIMEOUT      seconds to wait for each daemon / the keys (default: 30)
#
# Lab GPUs: each minion's config carries static `gpus` / `num_gpus` grains with the GPUs the host's
# simulated nvidia-smi shows (scripts/lab/gpus), standing in for what lspci finds on a real node.
#
# Files under $LAB_DIR/salt: master/master (config), master/root (root_dir: pki, cache, logs),
# api/{credentials,eauth,tls.crt,tls.key}, minions/NAME/minion and minions/NAME/root,
# *.pid (the process groups started here), minions.list, srv/{salt,pillar}.
# Salt's unix sockets live below root_dir and their paths must stay under 108 bytes, so every
# root_dir is reached through a short link /run/aimx-salt/<hash of LAB_DIR>/<id> (removed by down).
LAB_COMPONENT=salt
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LAB_SALT_VENV="${LAB_SALT_VENV:-$LAB_ROOT/var/salt-venv}"
LAB_SALT_PUBLISH_PORT="${LAB_SALT_PUBLISH_PORT:-14505}"
LAB_SALT_RET_PORT="${LAB_SALT_RET_PORT:-14506}"
LAB_SALT_API_HOST="${LAB_SALT_API_HOST:-127.0.0.1}"
LAB_SALT_API_PORT="${LAB_SALT_API_PORT:-14580}"
LAB_SALT_API_USER="${LAB_SALT_API_USER:-aimx-portal}"
LAB_SALT_MINIONS="${LAB_SALT_MINIONS:-${LAB_HOST_NAMES[*]}}"
LAB_SALT_MINIONS="${LAB_SALT_MINIONS//,/ }"
LAB_SALT_ACCEPT="${LAB_SALT_ACCEPT:-0}"
LAB_SALT_FILE_ROOTS="${LAB_SALT_FILE_ROOTS:-$LAB_DIR/salt/srv/salt}"
LAB_SALT_PILLAR_ROOTS="${LAB_SALT_PILLAR_ROOTS:-$LAB_DIR/salt/srv/pillar}"
LAB_SALT_STATES="${LAB_SALT_STATES:-$LAB_ROOT/salt/states}"
LAB_SALT_WORKERS="${LAB_SALT_WORKERS:-3}"
LAB_START_TIMEOUT="${LAB_START_TIMEOUT:-30}"

for _v in LAB_SALT_PUBLISH_PORT LAB_SALT_RET_PORT LAB_SALT_API_PORT LAB_SALT_WORKERS LAB_START_TIMEOUT; do
  [[ "${!_v}" =~ ^[0-9]+$ ]] || lab_die "$_v must be a number: '${!_v}'"
done
[[ "$LAB_SALT_API_USER" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || lab_die "bad LAB_SALT_API_USER '$LAB_SALT_API_USER'"
[[ "$LAB_SALT_API_HOST" =~ ^[0-9.]+$ ]] || lab_die "LAB_SALT_API_HOST must be an IPv4 address: '$LAB_SALT_API_HOST'"
for _v in LAB_SALT_VENV LAB_SALT_FILE_ROOTS LAB_SALT_PILLAR_ROOTS LAB_SALT_STATES; do
  # They end up unquoted in YAML configs: keep them plain absolute paths.
  [[ "${!_v}" =~ ^/[A-Za-z0-9._/+-]+$ ]] || lab_die "$_v must be an absolute path of [A-Za-z0-9._/+-]: '${!_v}'"
done
unset _v

SDIR="$LAB_DIR/salt"
MDIR="$SDIR/master"           # salt -c MDIR reads MDIR/master
ADIR="$SDIR/api"
MASTER_MARK="salt-master -c $MDIR -l"
API_MARK="salt-api -c $MDIR -l"
LINK_DIR="/run/aimx-salt/$(printf '%s' "$LAB_DIR" | sha256sum | cut -c1-12)"
MASTER_ROOT="$LINK_DIR/master"
SALT_BIN="$LAB_SALT_VENV/bin"
TOOL=("$LAB_PYTHON" "$LAB_SCRIPTS/salt/salttool.py")

wait_tcp() { "$LAB_PYTHON" "$LAB_SCRIPTS/slurm/slurmtool.py" wait-tcp "$@"; }


# --- process groups --------------------------------------------------------------------------
# Each daemon is started with setsid, so its PID is also the id of a process group holding it and
# every worker it forks. Stopping = signalling that group, and only if one of its live members
# still carries MARK on its command line (a stale pid file never hits a stranger).

group_members() {  # PGID -> live (non-zombie) PIDs in that process group
  ps -e -o pid=,pgid=,stat= 2>/dev/null | awk -v g="$1" '$2 == g && $3 !~ /^Z/ {print $1}'
}

group_ours() {  # PIDFILE MARK -> PGID if its group still runs our daemon
  local pgid p
  pgid="$(cat "$1" 2>/dev/null)" || return 1
  [[ "$pgid" =~ ^[0-9]+$ ]] || return 1
  for p in $(group_members "$pgid"); do
    if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$2"; then
      printf '%s\n' "$pgid"
      return 0
    fi
  done
  return 1
}

# Stop several daemons at once (a minion takes seconds to stop on SIGTERM): TERM every group,
# wait up to TIMEOUT s for all, KILL what is left.
stop_groups() {  # TIMEOUT PIDFILE MARK [PIDFILE MARK ...]
  local timeout="$1" pgid i left
  shift
  local -a groups=() files=()
  while [ "$#" -ge 2 ]; do
    if pgid="$(group_ours "$1" "$2")"; then
      kill -TERM -- "-$pgid" 2>/dev/null || true
      groups+=("$pgid")
    fi
    files+=("$1")
    shift 2
  done
  for ((i = 0; i < timeout * 10; i++)); do
    left=0
    for pgid in "${groups[@]}"; do [ -n "$(group_members "$pgid")" ] && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for pgid in "${groups[@]}"; do
    [ -z "$(group_members "$pgid")" ] || kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  rm -f "${files[@]}"
}

# --- pieces ----------------------------------------------------------------------------------

declare -A HOST_ADDR
read_hosts() {
  local net="$LAB_DIR/hosts/network" st name
  [ -f "$net" ] || lab_die "no lab hosts in $LAB_DIR (run scripts/lab/hosts.sh up first)"
  MODE="$(sed -n 's/^mode=//p' "$net")"
  UTS="$(sed -n 's/^uts=//p' "$net")"
  MASTER_ADDR="$(sed -n 's/^gateway=//p' "$net")"
  [ -n "$MASTER_ADDR" ] || MASTER_ADDR=127.0.0.1   # loopback mode: minions run on the machine
  for st in "$LAB_DIR"/hosts/*/state; do
    [ -f "$st" ] || continue
    name="$(sed -n 's/^name=//p' "$st")"
    HOST_ADDR[$name]="$(sed -n 's/^address=//p' "$st")"
    HOST_NS[$name]="$(sed -n 's/^netns=//p' "$st")"
  done
}
declare -A HOST_NS

require_salt() {
  local b
  for b in salt-master salt-api salt-minion salt-key python; do
    [ -x "$SALT_BIN/$b" ] || lab_die "$SALT_BIN/$b missing: scripts/install.sh test creates the Salt virtualenv (LAB_SALT_VENV, requirements/salt-lab.txt)"
  done
}

# Short link to a root_dir (see the header: unix socket paths).
root_link() {  # TARGET_DIR LINK_NAME -> prints the link path
  mkdir -p "$LINK_DIR" "$1"
  chmod 700 "$(dirname "$LINK_DIR")" "$LINK_DIR"
  [ "$(readlink "$LINK_DIR/$2" 2>/dev/null)" = "$1" ] || ln -sfn "$1" "$LINK_DIR/$2"
  printf '%s\n' "$LINK_DIR/$2"
}

make_cert() {
  # a running salt-api still serves the old certificate: restart it when a new one is made
  if lab_make_cert "$ADIR" "$LAB_SALT_API_HOST" aimatrix-lab-salt-api; then rm -f "$ADIR/api.started"; fi
}

write_master_conf() {  # returns 0 if it changed
  lab_write_if_changed "$MDIR/master" 600 <<CONF
# Generated by scripts/lab/salt.sh; edits are overwritten.
id: lab-master
root_dir: $MASTER_ROOT
user: root
interface: $MASTER_ADDR
publish_port: $LAB_SALT_PUBLISH_PORT
ret_port: $LAB_SALT_RET_PORT
worker_threads: $LAB_SALT_WORKERS
hash_type: sha256
# Keys are accepted by the portal (matching fingerprint) or by hand; never automatically.
auto_accept: False
open_mode: False
keep_jobs_seconds: 86400
# Pillar carries secrets (the munge key of slurm.node): the master must not keep compiled pillars
# in its cache (minion_data_cache would store them under cache/salt/master/pillar).
minion_data_cache: False
log_level_logfile: info
file_roots:
  base:
    - $LAB_SALT_FILE_ROOTS
    - $LAB_SALT_STATES
pillar_roots:
  base:
    - $LAB_SALT_PILLAR_ROOTS
external_auth:
  file:
    ^filename: $ADIR/eauth
    ^filetype: text
    ^hashtype: plaintext
    $LAB_SALT_API_USER:
      - '.*'
      - '@wheel'
      - '@runner'
      - '@jobs'
netapi_enable_clients:
  - local
  - local_async
  - runner
  - wheel
rest_cherrypy:
  host: $LAB_SALT_API_HOST
  port: $LAB_SALT_API_PORT
  ssl_crt: $ADIR/tls.crt
  ssl_key: $ADIR/tls.key
  thread_pool: 16
CONF
}

master_up() {
  local changed=0 pgid
  write_master_conf && changed=1
  if pgid="$(group_ours "$MDIR/master.pid" "$MASTER_MARK")"; then
    if [ "$changed" = 0 ]; then
      wait_tcp "$MASTER_ADDR" "$LAB_SALT_RET_PORT" "$LAB_START_TIMEOUT" 2>/dev/null ||
        lab_fail_with_log "$MDIR/root/var/log/salt/master" "salt-master (pid $pgid) does not answer on $MASTER_ADDR:$LAB_SALT_RET_PORT"
      return
    fi
    lab_log "master configuration changed: restarting salt-master and salt-api"
    stop_groups 15 "$ADIR/api.pid" "$API_MARK" "$MDIR/master.pid" "$MASTER_MARK"
  fi
  local port
  for port in "$LAB_SALT_RET_PORT" "$LAB_SALT_PUBLISH_PORT"; do
    if wait_tcp "$MASTER_ADDR" "$port" 0.1 2>/dev/null; then
      lab_die "$MASTER_ADDR:$port is taken by another process (set LAB_SALT_RET_PORT / LAB_SALT_PUBLISH_PORT)"
    fi
  done
  setsid "$SALT_BIN/salt-master" -c "$MDIR" -l warning </dev/null >>"$MDIR/master.out" 2>&1 &
  echo $! >"$MDIR/master.pid"
  if ! wait_tcp "$MASTER_ADDR" "$LAB_SALT_RET_PORT" "$LAB_START_TIMEOUT" 2>/dev/null ||
    ! group_ours "$MDIR/master.pid" "$MASTER_MARK" >/dev/null; then
    tail -n 15 "$MDIR/master.out" >&2 2>/dev/null || true
    lab_fail_with_log "$MDIR/root/var/log/salt/master" "salt-master did not come up on $MASTER_ADDR:$LAB_SALT_RET_PORT"
  fi
}

api_up() {
  local url="https://$LAB_SALT_API_HOST:$LAB_SALT_API_PORT" want
  want="$(cat "$MDIR/master" "$ADIR/eauth" "$ADIR/tls.crt" | sha256sum | cut -c1-64)"
  if group_ours "$ADIR/api.pid" "$API_MARK" >/dev/null; then
    if [ "$(cat "$ADIR/api.started" 2>/dev/null)" = "$want" ]; then
      "${LAB_TOOL[@]}" wait-http "$url/login" "$LAB_START_TIMEOUT" "$ADIR/tls.crt" ||
        lab_fail_with_log "$ADIR/api.out" "salt-api does not answer at $url"
      return
    fi
    lab_log "salt-api settings changed: restarting it"
    stop_groups 15 "$ADIR/api.pid" "$API_MARK"
  fi
  if "${LAB_TOOL[@]}" wait-http "$url/login" 0.2 "$ADIR/tls.crt" 2>/dev/null ||
    wait_tcp "$LAB_SALT_API_HOST" "$LAB_SALT_API_PORT" 0.1 2>/dev/null; then
    lab_die "$LAB_SALT_API_HOST:$LAB_SALT_API_PORT is taken by another process (set LAB_SALT_API_PORT)"
  fi
  setsid "$SALT_BIN/salt-api" -c "$MDIR" -l warning </dev/null >>"$ADIR/api.out" 2>&1 &
  echo $! >"$ADIR/api.pid"
  if ! "${LAB_TOOL[@]}" wait-http "$url/login" "$LAB_START_TIMEOUT" "$ADIR/tls.crt"; then
    stop_groups 5 "$ADIR/api.pid" "$API_MARK"
    lab_fail_with_log "$ADIR/api.out" "salt-api did not come up at $url"
  fi
  printf '%s\n' "$want" >"$ADIR/api.started"
}

minion_up() {  # NAME MASTER_FINGER
  local name="$1" finger="$2" dir="$SDIR/minions/$1" root pgid changed=0
  mkdir -p "$dir"
  chmod 700 "$dir"
  root="$(root_link "$dir/root" "$(printf '%s' "$name" | sha256sum | cut -c1-8)")"
  local grains
  grains="$("${TOOL[@]}" gpu-grains "$name")" || lab_die "$name: could not read its lab GPUs"
  lab_write_if_changed "$dir/minion" 600 <<CONF && changed=1
# Generated by scripts/lab/salt.sh; edits are overwritten.
id: $name
root_dir: $root
user: root
master: $MASTER_ADDR
master_port: $LAB_SALT_RET_PORT
publish_port: $LAB_SALT_PUBLISH_PORT
# The master's key is pinned: a different master key is refused.
master_finger: '$finger'
hash_type: sha256
# Retry authentication every second while the key is pending (default 10 s).
acceptance_wait_time: 1
acceptance_wait_time_max: 1
random_reauth_delay: 0
log_level_logfile: ${LAB_SALT_MINION_LOG_LEVEL:-info}
# Lab GPUs (simulated, scripts/lab/gpus): static grains instead of lspci's
$grains
CONF
  local mark="salt-minion -c $dir -l"
  if pgid="$(group_ours "$dir/minion.pid" "$mark")"; then
    [ "$changed" = 0 ] && return
    lab_log "$name: minion configuration changed: restarting its salt-minion"
    stop_groups 3 "$dir/minion.pid" "$mark"
  fi
  local -a launch=()
  local ns="${HOST_NS[$name]:-}"
  [ "$MODE" = netns ] && [ -n "$ns" ] && launch+=(nsenter "--net=/run/netns/$ns")
  # shellcheck disable=SC2016  # $0/$@ belong to the inner sh
  [ "$UTS" = 1 ] && launch+=(unshare --uts sh -c 'hostname "$0"; exec "$@"' "$name")
  # Not running (checked above): a minion killed moments ago may still be an unreaped zombie, and
  # its pid files would make the new one exit at once ("An instance is already running").
  rm -f "$dir/root/var/run/salt-minion.pid" "$dir/root/var/run/process_responsibility_salt-minion.pid"
  setsid "${launch[@]}" "$SALT_BIN/salt-minion" -c "$dir" -l warning </dev/null >>"$dir/minion.out" 2>&1 &
  echo $! >"$dir/minion.pid"
  STARTED+=("$name")
}
STARTED=()

# --- commands --------------------------------------------------------------------------------

cmd_up() {
  lab_require_root
  lab_require_cmds openssl setsid nsenter unshare sha256sum
  require_salt
  local t0 name
  t0="$(lab_now_ms)"
  HOST_ADDR=(); HOST_NS=()
  read_hosts
  local -a minions
  read -r -a minions <<<"$LAB_SALT_MINIONS"
  for name in "${minions[@]}"; do
    [ -n "${HOST_ADDR[$name]:-}" ] || lab_die "'$name' is not a lab host of $LAB_DIR (LAB_SALT_MINIONS / LAB_HOSTS)"
  done
  mkdir -p "$MDIR" "$ADIR" "$SDIR/minions" "$LAB_SALT_FILE_ROOTS" "$LAB_SALT_PILLAR_ROOTS"
  chmod 700 "$SDIR" "$MDIR" "$ADIR"
  root_link "$MDIR/root" master >/dev/null
  "${LAB_TOOL[@]}" creds "$ADIR/credentials" "$LAB_SALT_API_USER" 32
  # A changed LAB_SALT_API_USER: new credentials (the old file keeps the old user name).
  [ "$(sed -n 's/^username=//p' "$ADIR/credentials")" = "$LAB_SALT_API_USER" ] ||
    { rm -f "$ADIR/credentials"; "${LAB_TOOL[@]}" creds "$ADIR/credentials" "$LAB_SALT_API_USER" 32; }
  "${TOOL[@]}" eauth-file "$ADIR/credentials" "$ADIR/eauth"
  make_cert

  master_up
  local t_master=$(($(lab_now_ms) - t0))
  api_up
  local t_api=$(($(lab_now_ms) - t0))
  local pub="$MDIR/root/etc/salt/pki/master/master.pub" finger
  [ -s "$pub" ] || lab_die "salt-master wrote no public key ($pub)"
  finger="$("${TOOL[@]}" finger "$pub")"

  # Minions of an earlier `up` that are no longer wanted: stop them (their keys stay).
  local d keep
  for d in "$SDIR"/minions/*/; do
    d="${d%/}"
    [ -f "$d/minion.pid" ] || continue
    keep=0
    for name in "${minions[@]}"; do [ "$(basename "$d")" = "$name" ] && keep=1; done
    [ "$keep" = 1 ] || stop_groups 3 "$d/minion.pid" "salt-minion -c $d -l"
  done
  : >"$SDIR/minions.list.tmp"
  for name in "${minions[@]}"; do
    minion_up "$name" "$finger"
    printf '%s=%s\n' "$name" "${HOST_ADDR[$name]}" >>"$SDIR/minions.list.tmp"
  done
  mv "$SDIR/minions.list.tmp" "$SDIR/minions.list"
  # A running minion whose key was deleted on the master does not offer it again until it
  # re-authenticates: restart those, so every minion has a key (in some state) when `up` ends.
  local gone started
  for gone in $("${TOOL[@]}" missing-keys "$SALT_BIN/salt-key" "$MDIR" "${minions[@]}"); do
    started=0
    for name in "${STARTED[@]}"; do [ "$name" = "$gone" ] && started=1; done
    [ "$started" = 1 ] && continue
    lab_log "$gone: the master has no key of this running minion: restarting it"
    stop_groups 3 "$SDIR/minions/$gone/minion.pid" "salt-minion -c $SDIR/minions/$gone -l"
    minion_up "$gone" "$finger"
  done
  if ! "${TOOL[@]}" wait-keys "$SALT_BIN/salt-key" "$MDIR" "$LAB_START_TIMEOUT" "${minions[@]}"; then
    for name in "${minions[@]}"; do
      echo "--- $name: $SDIR/minions/$name/minion.out (tail)" >&2
      tail -n 6 "$SDIR/minions/$name/minion.out" >&2 2>/dev/null || true
    done
    lab_fail_with_log "$MDIR/root/var/log/salt/master" "not every minion key reached the master"
  fi
  local t_keys=$(($(lab_now_ms) - t0))
  local keys="left pending (the portal accepts them by fingerprint; LAB_SALT_ACCEPT=1 accepts here)"
  if [ "$LAB_SALT_ACCEPT" = 1 ]; then
    "${TOOL[@]}" accept "$SALT_BIN/salt-key" "$MDIR" "${minions[@]}"
    keys="accepted (LAB_SALT_ACCEPT=1)"
  fi
  SALT_KEY="$SALT_BIN/salt-key" SALT_MASTER_ROOT="$MDIR/root" SALT_MASTER_ADDR="$MASTER_ADDR" \
    SALT_VERSION="$("$SALT_BIN/python" -c 'import importlib.metadata as m; print(m.version("salt"))')" \
    LAB_SALT_API_HOST="$LAB_SALT_API_HOST" LAB_SALT_API_PORT="$LAB_SALT_API_PORT" \
    LAB_SALT_PUBLISH_PORT="$LAB_SALT_PUBLISH_PORT" LAB_SALT_RET_PORT="$LAB_SALT_RET_PORT" \
    LAB_SALT_FILE_ROOTS="$LAB_SALT_FILE_ROOTS" LAB_SALT_PILLAR_ROOTS="$LAB_SALT_PILLAR_ROOTS" \
    "${TOOL[@]}" publish "$LAB_DIR"
  lab_log "up in $(($(lab_now_ms) - t0)) ms (master at ${t_master} ms, salt-api at ${t_api} ms, every minion key at ${t_keys} ms): master $MASTER_ADDR:$LAB_SALT_RET_PORT, salt-api https://$LAB_SALT_API_HOST:$LAB_SALT_API_PORT, ${#minions[@]} minions, keys $keys"
}

cmd_down() {
  lab_require_root
  local d
  local -a args=()
  for d in "$SDIR"/minions/*/; do
    d="${d%/}"
    [ -f "$d/minion.pid" ] && args+=("$d/minion.pid" "salt-minion -c $d -l")
  done
  # A minion takes about 8 s to stop on SIGTERM; it keeps no state worth the wait: KILL after 3 s.
  [ "${#args[@]}" -eq 0 ] || stop_groups 3 "${args[@]}"
  stop_groups 15 "$ADIR/api.pid" "$API_MARK" "$MDIR/master.pid" "$MASTER_MARK"
  rm -rf "$LINK_DIR"
  lab_unpublish salt
  lab_log "down (keys, job cache and configs kept under $SDIR)"
}

cmd_status() {
  local rc=0 d name pgid
  [ -f "$MDIR/master" ] || { lab_log "not running ($SDIR)"; exit 1; }
  if pgid="$(group_ours "$MDIR/master.pid" "$MASTER_MARK")"; then
    lab_log "salt-master up (pid $pgid)"
  else
    lab_log "salt-master DOWN"; rc=1
  fi
  if pgid="$(group_ours "$ADIR/api.pid" "$API_MARK")" &&
    "${LAB_TOOL[@]}" wait-http "https://$LAB_SALT_API_HOST:$LAB_SALT_API_PORT/login" 2 "$ADIR/tls.crt" 2>/dev/null; then
    lab_log "salt-api up at https://$LAB_SALT_API_HOST:$LAB_SALT_API_PORT (pid $pgid)"
  else
    lab_log "salt-api DOWN"; rc=1
  fi
  for d in "$SDIR"/minions/*/; do
    d="${d%/}"
    [ -f "$d/minion.pid" ] || continue
    name="$(basename "$d")"
    if pgid="$(group_ours "$d/minion.pid" "salt-minion -c $d -l")"; then
      lab_log "minion $name up (pid $pgid)"
    else
      lab_log "minion $name DOWN"; rc=1
    fi
  done
  exit "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
