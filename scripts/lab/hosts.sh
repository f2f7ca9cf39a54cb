#!/usr/bin/env bash
# Lab hosts: N machines reachable over real SSH, each with its own network namespace, address,
# hostname, sshd and host key. The portal's SSH, Slurm and Salt code drives them in tests.
#
# Usage: scripts/lab/hosts.sh up|down|status|check
#   up      create what is missing (idempotent), wait for every SSH banner, write the inventory
#   down    stop every sshd and remove the namespaces, veths and bridge this LAB_DIR created
#   status  one line per host; exit 1 unless all are answering
#   check   log in to every host with OpenSSH (strict host keys): hostname + sudo -n true
#
# Layout: bridge $LAB_BRIDGE with $LAB_SUBNET.1/24 on the machine side; host i is the namespace
# ${LAB_NETNS_PREFIX}NAME with eth0 = $LAB_SUBNET.(i+1)/24 (a veth pair into the bridge) and
# sshd on port $LAB_SSH_PORT, started as
#   nsenter --net=/run/netns/NS unshare --uts --mount sh -c \
#     'hostname "$0"; mount --bind "$1" /etc/hosts; shift; exec "$@"' NAME HOSTS_FILE sshd -D -f CONF
# so `hostname` inside a session prints NAME and the lab hosts resolve each other by name
# (the bind mount lives in that sshd's private mount namespace only). Without permission for
# `ip netns` (or with LAB_NETNS=0) the hosts are sshd processes on 127.<b>.<c>.(i+1) instead
# (loopback mode; still one UTS/mount namespace each where `unshare` is allowed).
# down also stops anything else still running in a host's namespace (a slurmd a test started).
#
# Environment (see also scripts/lab/common.sh: LAB_DIR, LAB_HOSTS, LAB_SUBNET, LAB_BRIDGE ...):
#   LAB_USER           login user on every host, created if missing  (default: aimx)
#   LAB_SSH_PORT       sshd port on every host address              (default: 22)
#   LAB_NETNS          auto | 1 (namespaces or fail) | 0 (loopback) (default: auto)
#   LAB_LOOPBACK_NET   first three octets used in loopback mode     (default: 127.<b>.<c> of LAB_SUBNET)
#   LAB_SUDO           1: passwordless sudo for LAB_USER            (default: 1)
#   LAB_START_TIMEOUT  seconds to wait for each SSH banner          (default: 10)
#
# Files under $LAB_DIR: keys/id_ed25519 (client key, 600), keys/authorized_keys,
# keys/known_hosts, hosts/etc-hosts, hosts/network, hosts/NAME/{sshd_config,
# ssh_host_ed25519_key,sshd.pid,sshd.log,state}, inventory.d/hosts.json -> inventory.json,
# hosts/NAME/gpus/control.json (optional: the lab GPUs' control file, see scripts/lab/gpus/nvidia-smi).
# Machine-wide (kept by down, shared by every lab): the user and /etc/sudoers.d/aimx-lab-USER.
LAB_COMPONENT=hosts
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LAB_USER="${LAB_USER:-aimx}"
LAB_SSH_PORT="${LAB_SSH_PORT:-22}"
LAB_NETNS="${LAB_NETNS:-auto}"
LAB_SUDO="${LAB_SUDO:-1}"
LAB_START_TIMEOUT="${LAB_START_TIMEOUT:-10}"
_oct="${LAB_SUBNET#*.}"
LAB_LOOPBACK_NET="${LAB_LOOPBACK_NET:-127.$_oct}"
unset _oct
[[ "$LAB_USER" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || lab_die "bad LAB_USER '$LAB_USER'"

HOSTS_DIR="$LAB_DIR/hosts"
KEYS_DIR="$LAB_DIR/keys"
NETWORK_FILE="$HOSTS_DIR/network"
SSHD=/usr/sbin/sshd

# Host-side veth name: must be unique on the machine and at most 15 characters.
veth_name() {
  local name="$LAB_BRIDGE-$1"
  if [ "${#name}" -gt 15 ]; then
    name="vh$(printf '%s/%s' "$LAB_BRIDGE" "$1" | sha256sum | cut -c1-12)"
  fi
  printf '%s\n' "$name"
}

netns_exists() { [ -e "/run/netns/$1" ]; }

# --- machine-wide pieces: user, sudo, client key ---------------------------------------------

ensure_user() {
  if ! id -u "$LAB_USER" >/dev/null 2>&1; then
    # Another lab's `up` may win the race: only fail if the user still does not exist.
    useradd --create-home --shell /bin/bash "$LAB_USER" 2>/dev/null || id -u "$LAB_USER" >/dev/null ||
      lab_die "useradd $LAB_USER failed"
    lab_log "created user $LAB_USER"
  fi
  # A fresh account has '!' (locked) in shadow; sshd with UsePAM no refuses locked accounts
  # even for key logins. '*' = no password, but not locked.
  local field
  field="$(getent shadow "$LAB_USER" | cut -d: -f2)"
  case "$field" in '!'*|'') usermod -p '*' "$LAB_USER" ;; esac
  if [ "$LAB_SUDO" = "1" ]; then
    command -v sudo >/dev/null 2>&1 || lab_die "sudo is not installed (scripts/install.sh test installs it; or LAB_SUDO=0)"
    local drop="/etc/sudoers.d/aimx-lab-$LAB_USER" want
    want="# scripts/lab/hosts.sh: the lab user may sudo without a password (a test machine only)
$LAB_USER ALL=(ALL:ALL) NOPASSWD: ALL
Defaults:$LAB_USER env_keep += \"SLURM_CONF\"
"
    if [ "$(cat "$drop" 2>/dev/null)"$'\n' != "$want" ]; then
      # sudo skips names with a dot in /etc/sudoers.d, so the temporary file is never read.
      printf '%s' "$want" >"$drop.tmp.$$"
      chmod 440 "$drop.tmp.$$"
      visudo -cqf "$drop.tmp.$$" || { rm -f "$drop.tmp.$$"; lab_die "generated sudoers drop-in did not validate"; }
      mv "$drop.tmp.$$" "$drop"
    fi
  fi
}

ensure_client_key() {
  mkdir -p "$KEYS_DIR"
  chmod 755 "$LAB_DIR" "$KEYS_DIR"   # sshd reads authorized_keys as $LAB_USER
  if [ ! -f "$KEYS_DIR/id_ed25519" ]; then
    ssh-keygen -q -t ed25519 -N '' -C "aimx-lab-client@$(basename "$LAB_DIR")" -f "$KEYS_DIR/id_ed25519"
    lab_log "generated client key $KEYS_DIR/id_ed25519"
  fi
  chmod 600 "$KEYS_DIR/id_ed25519"
  local want
  want="$(cat "$KEYS_DIR/id_ed25519.pub")"
  [ "$(cat "$KEYS_DIR/authorized_keys" 2>/dev/null)" = "$want" ] || printf '%s\n' "$want" >"$KEYS_DIR/authorized_keys"
  chmod 644 "$KEYS_DIR/authorized_keys" "$KEYS_DIR/id_ed25519.pub"
  runuser -u "$LAB_USER" -- test -r "$KEYS_DIR/authorized_keys" ||
    lab_die "$LAB_USER cannot read $KEYS_DIR/authorized_keys (a parent directory of LAB_DIR is not world-searchable)"
}

# --- mode and network ------------------------------------------------------------------------

# Decide netns vs loopback once per LAB_DIR (kept in hosts/network until `down`).
choose_mode() {
  if [ -f "$NETWORK_FILE" ]; then
    MODE="$(sed -n 's/^mode=//p' "$NETWORK_FILE")"
    UTS="$(sed -n 's/^uts=//p' "$NETWORK_FILE")"
    return
  fi
  UTS=0
  unshare --uts --mount true 2>/dev/null && UTS=1
  case "$LAB_NETNS" in
    0) MODE=loopback ;;
    1) MODE=netns ;;
    auto)
      local probe="${LAB_NETNS_PREFIX}probe$$"
      if ip netns add "$probe" 2>/dev/null; then
        ip netns del "$probe"
        MODE=netns
      else
        MODE=loopback
        lab_log "'ip netns add' is not permitted here: falling back to sshd on $LAB_LOOPBACK_NET.x (loopback mode)"
      fi
      ;;
    *) lab_die "LAB_NETNS must be auto, 1 or 0" ;;
  esac
  [ "$UTS" = 1 ] || lab_log "'unshare --uts --mount' is not permitted: hosts keep the machine's hostname and /etc/hosts"
  mkdir -p "$HOSTS_DIR"
  if [ "$MODE" = netns ]; then
    printf 'mode=netns\nbridge=%s\nsubnet=%s\ngateway=%s.1\nuts=%s\n' \
      "$LAB_BRIDGE" "$LAB_SUBNET" "$LAB_SUBNET" "$UTS" >"$NETWORK_FILE"
  else
    printf 'mode=loopback\nbridge=\nsubnet=%s\ngateway=\nuts=%s\n' "$LAB_LOOPBACK_NET" "$UTS" >"$NETWORK_FILE"
  fi
}

ensure_bridge() {
  local recorded
  recorded="$(sed -n 's/^bridge=//p' "$NETWORK_FILE")"
  [ "$recorded" = "$LAB_BRIDGE" ] || lab_die "this LAB_DIR's hosts use bridge '$recorded'; run 'down' before changing LAB_BRIDGE"
  if ! ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
    ip link add "$LAB_BRIDGE" type bridge
  fi
  ip addr replace "$LAB_SUBNET.1/24" dev "$LAB_BRIDGE"
  ip link set "$LAB_BRIDGE" up
}

ensure_netns() {  # NAME NS VETH ADDRESS
  local name="$1" ns="$2" veth="$3" addr="$4"
  netns_exists "$ns" || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$ns"
  fi
  ip link set "$veth" master "$LAB_BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr replace "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# /etc/hosts as the lab hosts see it. Rewritten in place: running sshds have it bind-mounted.
write_etc_hosts() {
  local i=0 name net="$LAB_SUBNET" content
  [ "$MODE" = netns ] || net="$LAB_LOOPBACK_NET"
  content="# Generated by scripts/lab/hosts.sh
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback"
  for name in "${LAB_HOST_NAMES[@]}"; do
    i=$((i + 1))
    content+=$'\n'"$(lab_host_address "$net" "$i") $name"
  done
  [ "$(cat "$HOSTS_DIR/etc-hosts" 2>/dev/null)" = "$content" ] || printf '%s\n' "$content" >"$HOSTS_DIR/etc-hosts"
  chmod 644 "$HOSTS_DIR/etc-hosts"
}

# --- one host --------------------------------------------------------------------------------

write_sshd_config() {  # DIR ADDRESS -> prints path
  local dir="$1" addr="$2"
  # Lab GPUs: the simulated nvidia-smi (scripts/lab/gpus, a lab device) first on every session's
  # PATH, reading this host's control file in $dir/gpus (tests write it: hot GPU, XID, vanish).
  # Lab Slurm (scripts/lab/slurm.sh): $dir/slurm links to the conf dir of the host's cluster
  # (SLURM_CONF, as /etc/slurm on a real host) and $dir/bin holds its `lab-slurmctl`.
  mkdir -p "$dir/gpus"
  chmod 755 "$dir/gpus"
  cat >"$dir/sshd_config.new" <<CONF
# Generated by scripts/lab/hosts.sh; edits are overwritten.
ListenAddress $addr:$LAB_SSH_PORT
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $LAB_USER
AuthorizedKeysFile $KEYS_DIR/authorized_keys
StrictModes no
MaxStartups 100:30:200
MaxSessions 64
UseDNS no
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
SetEnv PATH=$LAB_SCRIPTS/gpus:$dir/bin:/usr/local/bin:/usr/bin:/bin AIMATRIX_LAB_GPU_DIR=$dir/gpus SLURM_CONF=$dir/slurm/slurm.conf
CONF
}

host_up() {  # INDEX NAME
  local i="$1" name="$2" dir="$HOSTS_DIR/$2" ns="" veth="" addr pid t0
  t0="$(lab_now_ms)"
  mkdir -p "$dir"
  if [ "$MODE" = netns ]; then
    ns="$LAB_NETNS_PREFIX$name"
    veth="$(veth_name "$i")"
    addr="$(lab_host_address "$LAB_SUBNET" "$i")"
  else
    addr="$(lab_host_address "$LAB_LOOPBACK_NET" "$i")"
  fi
  # Record what we are about to create first, so `down` finds it even if we fail half-way.
  printf 'index=%s\nname=%s\nmode=%s\nnetns=%s\nveth=%s\naddress=%s\nport=%s\nuser=%s\n' \
    "$i" "$name" "$MODE" "$ns" "$veth" "$addr" "$LAB_SSH_PORT" "$LAB_USER" >"$dir/state"
  [ "$MODE" = netns ] && ensure_netns "$name" "$ns" "$veth" "$addr"
  [ -f "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$dir/ssh_host_ed25519_key"
  chmod 600 "$dir/ssh_host_ed25519_key"

  write_sshd_config "$dir" "$addr"
  if pid="$(lab_pid "$dir/sshd.pid" "$dir/sshd_config")"; then
    if cmp -s "$dir/sshd_config.new" "$dir/sshd_config"; then
      rm -f "$dir/sshd_config.new"
      "${LAB_TOOL[@]}" wait-banner "$addr" "$LAB_SSH_PORT" "$LAB_START_TIMEOUT"
      lab_log "$name already up at $addr:$LAB_SSH_PORT (pid $pid)"
      return
    fi
    lab_log "$name: configuration changed, restarting sshd"
    lab_stop_pid "$dir/sshd.pid" "$dir/sshd_config"
  fi
  mv "$dir/sshd_config.new" "$dir/sshd_config"
  "$SSHD" -t -f "$dir/sshd_config" || lab_die "$name: sshd -t rejected $dir/sshd_config"

  local -a launch=()
  [ "$MODE" = netns ] && launch+=(nsenter "--net=/run/netns/$ns")
  # Own UTS namespace for the hostname, own mount namespace (private propagation) so the lab's
  # hosts file can be bound over /etc/hosts for this sshd and its sessions only: the hosts
  # resolve each other by name and sudo does not warn "unable to resolve host".
  # shellcheck disable=SC2016  # $0/$1/$@ belong to the inner sh
  [ "$UTS" = 1 ] && launch+=(unshare --uts --mount sh -c \
    'hostname "$0"; mount --bind "$1" /etc/hosts || echo "lab: /etc/hosts not replaced" >&2; shift; exec "$@"' \
    "$name" "$HOSTS_DIR/etc-hosts")
  # setsid: its own session, so it outlives the caller (make lab) and no terminal signal hits it.
  # No --fork anywhere: setsid/nsenter/unshare/sh all exec, so $! is sshd itself.
  # shellcheck disable=SC2094  # -E takes over the log; the redirect catches what comes before
  setsid "${launch[@]}" "$SSHD" -D -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null >>"$dir/sshd.log" 2>&1 &
  echo $! >"$dir/sshd.pid"
  # The banner must come from the sshd we just started (not a leftover holding the port).
  if ! "${LAB_TOOL[@]}" wait-banner "$addr" "$LAB_SSH_PORT" "$LAB_START_TIMEOUT" ||
    ! lab_pid "$dir/sshd.pid" "$dir/sshd_config" >/dev/null; then
    tail -n 20 "$dir/sshd.log" >&2 || true
    lab_die "$name: sshd did not come up (log: $dir/sshd.log)"
  fi
  lab_log "$name up at $addr:$LAB_SSH_PORT (pid $(cat "$dir/sshd.pid"), $(($(lab_now_ms) - t0)) ms)"
}

host_down() {  # DIR
  local dir="$1" ns veth name
  name="$(basename "$dir")"
  ns="$(sed -n 's/^netns=//p' "$dir/state" 2>/dev/null || true)"
  veth="$(sed -n 's/^veth=//p' "$dir/state" 2>/dev/null || true)"
  lab_stop_pid "$dir/sshd.pid" "$dir/sshd_config"
  if [ -n "$ns" ] && netns_exists "$ns"; then
    # Anything else still running in the namespace (a slurmd a test started) goes too.
    local pids
    pids="$(ip netns pids "$ns" 2>/dev/null || true)"
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill $pids 2>/dev/null || true
      sleep 0.2
      pids="$(ip netns pids "$ns" 2>/dev/null || true)"
      # shellcheck disable=SC2086
      [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    fi
    ip netns del "$ns"
  fi
  # Deleting the namespace destroys its eth0 and with it the veth peer; this is for leftovers.
  if [ -n "$veth" ] && ip link show "$veth" >/dev/null 2>&1; then ip link del "$veth" || true; fi
  rm -f "$dir/state" "$dir/sshd_config.new"
  lab_log "$name down"
}

# --- commands --------------------------------------------------------------------------------

cmd_up() {
  lab_require_root
  lab_require_cmds ip ssh-keygen nsenter unshare setsid useradd usermod "$SSHD"
  local t0 i name
  t0="$(lab_now_ms)"
  mkdir -p /run/sshd "$HOSTS_DIR"
  ensure_user
  ensure_client_key
  choose_mode
  [ "$MODE" = netns ] && ensure_bridge
  # Hosts from an earlier `up` with a longer LAB_HOSTS: take them down.
  local dir keep
  for dir in "$HOSTS_DIR"/*/; do
    [ -f "$dir/state" ] || continue
    keep=0
    for name in "${LAB_HOST_NAMES[@]}"; do [ "$(basename "$dir")" = "$name" ] && keep=1; done
    [ "$keep" = 1 ] || host_down "${dir%/}"
  done
  write_etc_hosts
  i=0
  for name in "${LAB_HOST_NAMES[@]}"; do
    i=$((i + 1))
    host_up "$i" "$name"
  done
  "${LAB_TOOL[@]}" hosts-publish "$LAB_DIR"
  lab_log "${#LAB_HOST_NAMES[@]} hosts up ($MODE mode, user $LAB_USER, key $KEYS_DIR/id_ed25519) in $(($(lab_now_ms) - t0)) ms"
}

cmd_down() {
  lab_require_root
  local dir bridge=""
  if [ -f "$NETWORK_FILE" ]; then bridge="$(sed -n 's/^bridge=//p' "$NETWORK_FILE")"; fi
  for dir in "$HOSTS_DIR"/*/; do
    [ -d "$dir" ] || continue
    if [ -f "$dir/state" ] || [ -f "$dir/sshd.pid" ]; then host_down "${dir%/}"; fi
  done
  if [ -n "$bridge" ] && ip link show "$bridge" >/dev/null 2>&1; then
    ip link del "$bridge"
    lab_log "bridge $bridge removed"
  fi
  rm -f "$NETWORK_FILE"
  lab_unpublish hosts
  lab_log "down (keys and host keys kept under $LAB_DIR)"
}

cmd_status() {
  local dir name addr port pid ok=0 n=0
  for dir in "$HOSTS_DIR"/*/; do
    dir="${dir%/}"
    [ -f "$dir/state" ] || continue
    n=$((n + 1))
    name="$(basename "$dir")"
    addr="$(sed -n 's/^address=//p' "$dir/state")"
    port="$(sed -n 's/^port=//p' "$dir/state")"
    if pid="$(lab_pid "$dir/sshd.pid" "$dir/sshd_config")" &&
      "${LAB_TOOL[@]}" wait-banner "$addr" "$port" 1 2>/dev/null; then
      lab_log "$name up at $addr:$port (pid $pid)"
      ok=$((ok + 1))
    else
      lab_log "$name DOWN (expected at $addr:$port)"
    fi
  done
  [ "$n" -gt 0 ] || { lab_log "not running ($LAB_DIR)"; exit 1; }
  [ "$ok" -eq "$n" ]
}

cmd_check() {
  local dir name addr port out
  lab_require_cmds ssh
  for dir in "$HOSTS_DIR"/*/; do
    dir="${dir%/}"
    [ -f "$dir/state" ] || continue
    name="$(basename "$dir")"
    addr="$(sed -n 's/^address=//p' "$dir/state")"
    port="$(sed -n 's/^port=//p' "$dir/state")"
    out="$(ssh -F /dev/null -i "$KEYS_DIR/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
      -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KEYS_DIR/known_hosts" \
      -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5 -p "$port" \
      "$(sed -n 's/^user=//p' "$dir/state")@$addr" 'hostname && sudo -n true && echo sudo-ok')" ||
      lab_die "$name: ssh check failed"
    [ "$out" = "$name"$'\n'"sudo-ok" ] || [ "$UTS_CHECK_SKIP" = 1 ] || lab_die "$name: unexpected output: $out"
    lab_log "check ok: $name ($addr:$port): hostname=$(head -n1 <<<"$out"), sudo -n true ok"
  done
}

UTS_CHECK_SKIP=0
[ -f "$NETWORK_FILE" ] && grep -q '^uts=0' "$NETWORK_FILE" && UTS_CHECK_SKIP=1

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  check) cmd_check ;;
  *) echo "usage: $0 up|down|status|check" >&2; exit 2 ;;
esac
