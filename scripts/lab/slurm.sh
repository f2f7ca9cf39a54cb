#!/usr/bin/env bash
# Lab Slurm: a MANAGED cluster on the lab hosts (scripts/lab/hosts.sh must be up) with
# accounting, and a small EXTERNAL cluster on two hosts of its own, both reachable over SSH.
#
# Usage: scripts/lab/slurm.sh up|down|status
#   up      idempotent: start what is not running, wait until every node is idle, write the
#           `slurm` section of inventory.json
#   down    stop every daemon this LAB_DIR started (by pid file), the job steps of its nodes and
#           the external cluster's hosts; configs, state and the database are kept
#   status  exit 1 unless every daemon answers
#
# Managed cluster ($LAB_SLURM_CLUSTER, default `lab`), all under $LAB_DIR/slurm/<cluster>:
#   munged (own key and socket) on the machine; MariaDB (plain mariadbd, own datadir, socket and
#   port) and slurmdbd on the machine, shared dir $LAB_DIR/slurm/db; slurmctld in the FIRST lab
#   host's network namespace with its hostname; one slurmd per lab host in its namespace
#   (nsenter --net + unshare --uts: `ip netns exec` breaks slurmd). Fake GPUs: device nodes
#   dev/<host>/nvidia<i> (mknod c 1 3, copies of /dev/null), as many as the host's simulated
#   nvidia-smi shows; GresTypes=gpu, gres.conf with AutoDetect=off and File= lines, so jobs get
#   CUDA_VISIBLE_DEVICES. Default account $LAB_SLURM_ACCOUNT with root and the lab user in it.
#   etc/slurm.conf, etc/gres.conf   the live files; a portal rewrites them over SSH. `up` writes
#                                   them only when missing or still as `up` wrote them
#                                   (LAB_SLURM_RESET_CONF=1: always)
#   base.conf                       the base template (SLURM_BASE_CONFIG_PATH): everything that
#                                   makes Slurm work here, no NodeName/PartitionName lines
#   cluster.env, bin/lab-slurmctl   the control script's settings and its wrapper
# External cluster ($LAB_SLURM_EXT_CLUSTER, default `ext`; LAB_SLURM_EXTERNAL=0 skips it): two
#   hosts of its own (hosts.sh run on $LAB_DIR/slurm/ext/hosts-lab: own bridge and subnet, the
#   lab's client key), slurmctld on the first, a slurmd on each, own munge key, no accounting.
#
# What a portal uses on the lab (paths also in inventory.json -> slurm.clusters[]):
#   SSH as the lab user to the controller host (managed: the first lab host; external: its
#   first host). Sessions there have SLURM_CONF set (sshd SetEnv; sudo keeps it), so plain
#   `scontrol`, `sinfo`, `squeue`, `sbatch --parsable` (script on stdin), `scancel`, `sacct`,
#   `sacctmgr -i` work; `sudo -n scontrol reconfigure` applies a rewritten config;
#   `sudo -n tee <slurm_conf>` / `sudo -n mv` write it (real path: slurm.clusters[].slurm_conf);
#   `sudo -n $LAB_DIR/slurm/<cluster>/bin/lab-slurmctl restart` restarts slurmctld (adding
#   nodes, GresTypes) and waits for `scontrol ping`; the same with `slurmd-restart` on any lab
#   host restarts that host's slurmd (`slurmd-stop` / `slurmd-start` too; `lab-slurmctl` alone
#   is on the sessions' PATH, e.g. `lab-slurmctl status`).
#
# Environment (see also common.sh: LAB_DIR, LAB_HOSTS, LAB_SUBNET, LAB_BRIDGE ...):
#   LAB_SLURM_CLUSTER       managed cluster name                       (default: lab)
#   LAB_SLURM_PARTITION     its partition (all nodes, default)         (default: batch)
#   LAB_SLURM_NODES         lab hosts in the initial cluster           (default: all lab hosts)
#   LAB_SLURM_ACCOUNT       account root and the lab user are put in   (default: lab)
#   LAB_SLURM_ENFORCE       AccountingStorageEnforce                   (default: associations,limits,qos)
#   LAB_SLURM_CTLD_PORT     slurmctld port (in the controller's netns) (default: 16817)
#   LAB_SLURM_SLURMD_PORT   slurmd port (per node netns; loopback mode: +0..N-1)  (default: 16900)
#   LAB_SLURM_DBD_PORT      slurmdbd port on the machine               (default: 16819)
#   LAB_SLURM_DB_PORT       MariaDB port on 127.0.0.1                  (default: 16306)
#   LAB_SLURM_SLURMD_TIMEOUT  SlurmdTimeout: a dead slurmd shows DOWN after about this (default: 20)
#   LAB_SLURM_NODE_MEMORY   RealMemory of each node, MB                (default: 1024)
#   LAB_SLURM_MAX_JOBS      MaxJobCount (pending array tasks count)    (default: 30000)
#   LAB_SLURM_EXTERNAL      1: also the external cluster               (default: 1)
#   LAB_SLURM_EXT_CLUSTER   its name, also its hosts' name prefix      (default: ext)
#   LAB_SLURM_EXT_CTLD_PORT / LAB_SLURM_EXT_SLURMD_PORT                (default: 16827 / 16950)
#   LAB_SLURM_EXT_BRIDGE    its hosts' bridge                          (default: LAB_BRIDGE + "x")
#   LAB_SLURM_EXT_SUBNET    its hosts' /24                             (default: a.(b+100).c of LAB_SUBNET)
#   LAB_USER (aimx), LAB_START_TIMEOUT (20 s per daemon)
LAB_COMPONENT=slurm
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LAB_USER="${LAB_USER:-aimx}"
LAB_START_TIMEOUT="${LAB_START_TIMEOUT:-20}"
LAB_SLURM_CLUSTER="${LAB_SLURM_CLUSTER:-lab}"
LAB_SLURM_PARTITION="${LAB_SLURM_PARTITION:-batch}"
LAB_SLURM_NODES="${LAB_SLURM_NODES:-${LAB_HOST_NAMES[*]}}"
LAB_SLURM_NODES="${LAB_SLURM_NODES//,/ }"
LAB_SLURM_ACCOUNT="${LAB_SLURM_ACCOUNT:-lab}"
LAB_SLURM_ENFORCE="${LAB_SLURM_ENFORCE:-associations,limits,qos}"
LAB_SLURM_CTLD_PORT="${LAB_SLURM_CTLD_PORT:-16817}"
LAB_SLURM_SLURMD_PORT="${LAB_SLURM_SLURMD_PORT:-16900}"
LAB_SLURM_DBD_PORT="${LAB_SLURM_DBD_PORT:-16819}"
LAB_SLURM_DB_PORT="${LAB_SLURM_DB_PORT:-16306}"
LAB_SLURM_SLURMD_TIMEOUT="${LAB_SLURM_SLURMD_TIMEOUT:-20}"
LAB_SLURM_NODE_MEMORY="${LAB_SLURM_NODE_MEMORY:-1024}"
LAB_SLURM_MAX_JOBS="${LAB_SLURM_MAX_JOBS:-30000}"
LAB_SLURM_EXTERNAL="${LAB_SLURM_EXTERNAL:-1}"
LAB_SLURM_EXT_CLUSTER="${LAB_SLURM_EXT_CLUSTER:-ext}"
LAB_SLURM_EXT_CTLD_PORT="${LAB_SLURM_EXT_CTLD_PORT:-16827}"
LAB_SLURM_EXT_SLURMD_PORT="${LAB_SLURM_EXT_SLURMD_PORT:-16950}"
_br="${LAB_BRIDGE:0:14}x"
LAB_SLURM_EXT_BRIDGE="${LAB_SLURM_EXT_BRIDGE:-$_br}"
IFS=. read -r _a _b _c <<<"$LAB_SUBNET"
LAB_SLURM_EXT_SUBNET="${LAB_SLURM_EXT_SUBNET:-$_a.$(((_b + 100) % 256)).$_c}"
unset _br _a _b _c

for _v in LAB_SLURM_CLUSTER LAB_SLURM_EXT_CLUSTER LAB_SLURM_PARTITION LAB_SLURM_ACCOUNT; do
  # Cluster names also name hosts and directories: a hostname label, short.
  [[ "${!_v}" =~ ^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$ ]] || lab_die "$_v must be a short lowercase name ([a-z0-9-]): '${!_v}'"
done
for _v in LAB_SLURM_CTLD_PORT LAB_SLURM_SLURMD_PORT LAB_SLURM_DBD_PORT LAB_SLURM_DB_PORT \
  LAB_SLURM_EXT_CTLD_PORT LAB_SLURM_EXT_SLURMD_PORT LAB_SLURM_SLURMD_TIMEOUT LAB_SLURM_NODE_MEMORY LAB_SLURM_MAX_JOBS; do
  [[ "${!_v}" =~ ^[0-9]+$ ]] || lab_die "$_v must be a number: '${!_v}'"
done
[[ "$LAB_SLURM_ENFORCE" =~ ^[a-z,]*$ ]] || lab_die "bad LAB_SLURM_ENFORCE '$LAB_SLURM_ENFORCE'"
[ "$LAB_SLURM_CLUSTER" != "$LAB_SLURM_EXT_CLUSTER" ] || lab_die "the managed and external clusters need different names"
unset _v

SDIR="$LAB_DIR/slurm"
DBDIR="$SDIR/db"
CTL="$LAB_SCRIPTS/slurm/lab-slurmctl"
TOOL=("$LAB_PYTHON" "$LAB_SCRIPTS/slurm/slurmtool.py")
MYSQL_DATA="$DBDIR/data"
MYSQL_SOCK="$DBDIR/mysqld.sock"
MYSQL_MARK="--datadir=$MYSQL_DATA"
DBD_CONF="$DBDIR/slurmdbd.conf"

wait_tcp() { "${TOOL[@]}" wait-tcp "$@"; }


# --- the lab hosts a cluster runs on -------------------------------------------------------

# Sets MODE, GATEWAY and HOST_ADDR[name] from a hosts.sh lab directory.
declare -A HOST_ADDR HOST_INDEX
read_hosts() {  # HOSTS_LAB_DIR
  local net="$1/hosts/network" st name
  [ -f "$net" ] || lab_die "no lab hosts in $1 (run scripts/lab/hosts.sh up first)"
  MODE="$(sed -n 's/^mode=//p' "$net")"
  GATEWAY="$(sed -n 's/^gateway=//p' "$net")"
  UTS="$(sed -n 's/^uts=//p' "$net")"
  for st in "$1"/hosts/*/state; do
    [ -f "$st" ] || continue
    name="$(sed -n 's/^name=//p' "$st")"
    HOST_ADDR[$name]="$(sed -n 's/^address=//p' "$st")"
    HOST_INDEX[$name]="$(sed -n 's/^index=//p' "$st")"
  done
}

# --- munge -----------------------------------------------------------------------------------

munge_up() {  # DIR
  local dir="$1" pid
  mkdir -p "$dir"
  chmod 755 "$dir"   # the lab user's clients reach the socket below it; the key stays 600
  [ -s "$dir/munge.key" ] || mungekey --create --keyfile="$dir/munge.key" >/dev/null ||
    lab_die "mungekey could not create $dir/munge.key"
  chmod 600 "$dir/munge.key"
  mkdir -p "$dir/socket"
  chmod 755 "$dir/socket"   # clients (the lab user) connect to the socket
  if pid="$(lab_pid "$dir/munged.pid" "--key-file=$dir/munge.key")"; then
    :
  else
    # --force: munged refuses paths whose parents it does not trust (group-writable dirs).
    setsid munged -F --force --socket="$dir/socket/munge.sock" --key-file="$dir/munge.key" \
      --pid-file="$dir/munged.real.pid" --seed-file="$dir/munged.seed" --log-file="$dir/munged.log" \
      </dev/null >>"$dir/munged.out" 2>&1 &
    echo $! >"$dir/munged.pid"
  fi
  local i
  for ((i = 0; i < LAB_START_TIMEOUT * 20; i++)); do
    munge -n -S "$dir/socket/munge.sock" 2>/dev/null | unmunge -S "$dir/socket/munge.sock" >/dev/null 2>&1 && return 0
    lab_alive "$(cat "$dir/munged.pid")" || break   # alive, not the mark: it may be mid-exec
    sleep 0.05
  done
  tail -n 10 "$dir/munged.out" >&2 2>/dev/null || true
  lab_fail_with_log "$dir/munged.log" "munged ($dir) did not answer"
}

munge_down() { lab_stop_pid "$1/munged.pid" "--key-file=$1/munge.key"; }

# --- MariaDB + slurmdbd ----------------------------------------------------------------------

db_up() {
  local pid
  mkdir -p "$DBDIR"
  chmod 700 "$DBDIR"
  "${LAB_TOOL[@]}" creds "$DBDIR/credentials" slurm 24
  if [ ! -d "$MYSQL_DATA/mysql" ]; then
    rm -rf "$MYSQL_DATA"
    mariadb-install-db --no-defaults --datadir="$MYSQL_DATA" --user=root \
      --auth-root-authentication-method=socket --skip-test-db >"$DBDIR/install.log" 2>&1 ||
      lab_fail_with_log "$DBDIR/install.log" "mariadb-install-db failed"
  fi
  if ! pid="$(lab_pid "$DBDIR/mariadbd.pid" "$MYSQL_MARK")"; then
    if wait_tcp 127.0.0.1 "$LAB_SLURM_DB_PORT" 0.1 2>/dev/null; then
      lab_die "127.0.0.1:$LAB_SLURM_DB_PORT is taken by another process (set LAB_SLURM_DB_PORT)"
    fi
    setsid mariadbd --no-defaults "$MYSQL_MARK" --user=root --socket="$MYSQL_SOCK" \
      --port="$LAB_SLURM_DB_PORT" --bind-address=127.0.0.1 --pid-file="$DBDIR/mariadbd.real.pid" \
      --log-error="$DBDIR/mariadbd.log" --skip-name-resolve --innodb-buffer-pool-size=64M \
      --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=0 --innodb-lock-wait-timeout=900 \
      --max-allowed-packet=64M </dev/null >>"$DBDIR/mariadbd.out" 2>&1 &
    echo $! >"$DBDIR/mariadbd.pid"
  fi
  local i
  for ((i = 0; i < LAB_START_TIMEOUT * 10; i++)); do
    mariadb-admin --no-defaults -S "$MYSQL_SOCK" ping >/dev/null 2>&1 && break
    lab_alive "$(cat "$DBDIR/mariadbd.pid")" || lab_fail_with_log "$DBDIR/mariadbd.log" "mariadbd exited"
    sleep 0.1
  done
  mariadb-admin --no-defaults -S "$MYSQL_SOCK" ping >/dev/null 2>&1 || lab_fail_with_log "$DBDIR/mariadbd.log" "mariadbd did not answer"
  local password
  password="$(sed -n 's/^password=//p' "$DBDIR/credentials")"
  # The password travels on stdin, never on a command line.
  mariadb --no-defaults -S "$MYSQL_SOCK" -u root <<SQL || lab_die "could not create the slurm database user"
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
}

# slurmdbd's command line names no file of ours: it is ours if its environment has our SLURM_CONF.
DBD_SLURM_CONF="$DBDIR/slurm.conf"
dbd_pid() {
  local pid
  pid="$(cat "$DBDIR/lab-slurmdbd.pid" 2>/dev/null)" && [[ "$pid" =~ ^[0-9]+$ ]] && lab_alive "$pid" &&
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slurmdbd ] &&
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$DBD_SLURM_CONF" &&
    printf '%s\n' "$pid"
}

dbd_stop() {
  local pid waited=0
  if pid="$(dbd_pid)"; then
    kill "$pid" 2>/dev/null || true
    while lab_alive "$pid" && [ "$waited" -lt 200 ]; do waited=$((waited + 1)); sleep 0.05; done
    lab_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$DBDIR/lab-slurmdbd.pid"
}

dbd_up() {  # MUNGE_SOCKET
  local password pid
  password="$(sed -n 's/^password=//p' "$DBDIR/credentials")"
  mkdir -p "$DBDIR/log" "$DBDIR/run"
  # slurmdbd refuses a config readable by others (it holds the database password).
  if lab_write_if_changed "$DBD_CONF" 600 <<CONF; then dbd_stop; fi
# Generated by scripts/lab/slurm.sh
AuthType=auth/munge
AuthInfo=socket=$1
DbdHost=localhost
DbdPort=$LAB_SLURM_DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$DBDIR/log/slurmdbd.log
PidFile=$DBDIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$LAB_SLURM_DB_PORT
StorageUser=slurm
StoragePass=$password
StorageLoc=slurm_acct_db
CONF
  if ! pid="$(dbd_pid)"; then
    if wait_tcp 127.0.0.1 "$LAB_SLURM_DBD_PORT" 0.1 2>/dev/null; then
      lab_die "port $LAB_SLURM_DBD_PORT is taken by another process (set LAB_SLURM_DBD_PORT)"
    fi
    # slurmdbd reads slurmdbd.conf from SLURM_CONF's directory (no option for it).
    SLURM_CONF="$DBD_SLURM_CONF" setsid slurmdbd -D </dev/null >>"$DBDIR/slurmdbd.out" 2>&1 &
    echo $! >"$DBDIR/lab-slurmdbd.pid"
  fi
  wait_tcp 127.0.0.1 "$LAB_SLURM_DBD_PORT" "$LAB_START_TIMEOUT" 2>/dev/null ||
    lab_fail_with_log "$DBDIR/log/slurmdbd.log" "slurmdbd did not open port $LAB_SLURM_DBD_PORT"
  printf 'DBD_ADDR="%s"\nDBD_PORT="%s"\nDB_PORT="%s"\nDB_SOCKET="%s"\n' \
    "${GATEWAY:-127.0.0.1}" "$LAB_SLURM_DBD_PORT" "$LAB_SLURM_DB_PORT" "$MYSQL_SOCK" >"$DBDIR/db.env"
}

# --- one cluster -----------------------------------------------------------------------------

# The settings that make Slurm work on this machine; a portal adds node and partition lines.
render_base() {  # KIND NAME CDIR CTLD_HOST CTLD_ADDR CTLD_PORT SLURMD_PORT MUNGE_SOCKET
  local kind="$1" name="$2" cdir="$3"
  cat <<CONF
# Base template of the lab's $kind Slurm cluster '$name' (scripts/lab/slurm.sh). It holds
# everything that makes Slurm run on this machine (paths, plugins, auth, accounting) and no
# NodeName/PartitionName lines: slurm.conf = this file + the rendered node and partition lines.
ClusterName=$name
SlurmctldHost=$4($5)
SlurmctldPort=$6
SlurmdPort=$7
AuthType=auth/munge
AuthInfo=socket=$8
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$cdir/state/ctld
SlurmdSpoolDir=$cdir/nodes/%n/spool
SlurmctldPidFile=$cdir/run/slurmctld.pid
SlurmdPidFile=$cdir/nodes/%n/slurmd.pid
SlurmctldLogFile=$cdir/log/slurmctld.log
SlurmdLogFile=$cdir/nodes/%n/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups here: track processes by parent, no task containment.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MailProg=/bin/true
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=$LAB_SLURM_SLURMD_TIMEOUT
InactiveLimit=0
KillWait=5
MinJobAge=300
MaxJobCount=$LAB_SLURM_MAX_JOBS
Waittime=0
GresTypes=gpu
JobCompType=jobcomp/none
CONF
  if [ "$kind" = managed ]; then
    cat <<CONF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=${GATEWAY:-127.0.0.1}
AccountingStoragePort=$LAB_SLURM_DBD_PORT
AccountingStoragePass=$8
AccountingStorageEnforce=$LAB_SLURM_ENFORCE
AccountingStorageTRES=gres/gpu
CONF
  else
    echo "AccountingStorageType=accounting_storage/none"
  fi
}

# Writes FILE from stdin unless someone (the portal) changed it since we last wrote it.
write_owned_conf() {  # FILE
  local file="$1" mine="$1.lab-written" new
  new="$(cat)"
  if [ -f "$file" ] && [ "${LAB_SLURM_RESET_CONF:-0}" != 1 ] && ! cmp -s "$file" "$mine"; then
    lab_log "$(basename "$file") was changed since the lab wrote it: kept (LAB_SLURM_RESET_CONF=1 rewrites it)"
    return
  fi
  printf '%s\n' "$new" >"$mine"
  cmp -s "$mine" "$file" || { cp "$mine" "$file.tmp.$$"; chmod 644 "$file.tmp.$$"; mv "$file.tmp.$$" "$file"; }
}

# Fake GPUs of a host: as many /dev/null twins as its simulated nvidia-smi shows.
make_devices() {  # CDIR HOST -> prints the count
  local dir="$1/dev/$2" n i
  n="$("${TOOL[@]}" gpu-count "$2")"
  mkdir -p "$dir"
  for ((i = 0; i < n; i++)); do
    [ -c "$dir/nvidia$i" ] || mknod -m 666 "$dir/nvidia$i" c 1 3
  done
  for i in "$dir"/nvidia*; do   # fewer GPUs than last time (other host names)
    [ -e "$i" ] || continue
    [ "${i##*/nvidia}" -lt "$n" ] || rm -f "$i"
  done
  printf '%s\n' "$n"
}

sacctmgr_q() { SLURM_CONF="$CONF" sacctmgr -n -P "$@" 2>/dev/null; }

# Cluster, the default account, root and the lab user in it (idempotent).
accounting_setup() {  # NAME
  local name="$1" user have
  sacctmgr_q list cluster format=cluster | grep -qxF "$name" ||
    SLURM_CONF="$CONF" sacctmgr -i add cluster "$name" >/dev/null || lab_die "sacctmgr add cluster $name failed"
}

accounting_users() {  # NAME
  local name="$1" user have
  sacctmgr_q list account format=account | grep -qxF "$LAB_SLURM_ACCOUNT" ||
    SLURM_CONF="$CONF" sacctmgr -i add account "$LAB_SLURM_ACCOUNT" Cluster="$name" \
      Description="lab default account" Organization=lab >/dev/null || lab_die "sacctmgr add account failed"
  have="$(sacctmgr_q list assoc cluster="$name" account="$LAB_SLURM_ACCOUNT" format=user)"
  for user in root "$LAB_USER"; do
    grep -qxF "$user" <<<"$have" && continue
    SLURM_CONF="$CONF" sacctmgr -i add user "$user" Account="$LAB_SLURM_ACCOUNT" Cluster="$name" >/dev/null ||
      lab_die "sacctmgr add user $user failed"
  done
  # The portal's SSH account administers the cluster: slurmctld takes node state changes
  # (drain, resume) only from AdminLevel=Admin, and sacctmgr changes need at least Operator.
  [ "$(sacctmgr_q list user "$LAB_USER" format=adminlevel)" = "Administrator" ] ||
    SLURM_CONF="$CONF" sacctmgr -i modify user where name="$LAB_USER" set adminlevel=Admin >/dev/null ||
      lab_die "sacctmgr adminlevel=Admin for $LAB_USER failed"
}

wait_nodes_idle() {  # NAME NODES...
  local name="$1" deadline out bad n state
  shift
  deadline=$(($(date +%s) + LAB_START_TIMEOUT))
  while :; do
    out="$(SLURM_CONF="$CONF" sinfo -h -N -o '%N %T' 2>/dev/null || true)"
    bad=""
    for n in "$@"; do
      state="$(awk -v n="$n" '$1 == n {print $2; exit}' <<<"$out")"
      case "$state" in idle|mixed|allocated|completing) ;; *) bad+=" $n=${state:-missing}" ;; esac
    done
    [ -z "$bad" ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      for n in "$@"; do echo "--- $CDIR/nodes/$n/slurmd.log (tail)" >&2; tail -n 8 "$CDIR/nodes/$n/slurmd.log" >&2 2>/dev/null || true; done
      echo "--- $CDIR/log/slurmctld.log (tail)" >&2; tail -n 15 "$CDIR/log/slurmctld.log" >&2 2>/dev/null || true
      lab_die "cluster $name: nodes not idle after ${LAB_START_TIMEOUT}s:$bad"
    fi
    sleep 0.1
  done
}

cluster_up() {  # KIND NAME HOSTS_LAB_DIR CTLD_PORT SLURMD_PORT MUNGE_DIR NODES...
  local kind="$1" name="$2" hlab="$3" ctld_port="$4" slurmd_port="$5" munge_dir="$6"
  shift 6
  local -a nodes=("$@")
  local t0 n ctld_host gres_lines="" node_lines="" port count
  t0="$(lab_now_ms)"
  HOST_ADDR=(); HOST_INDEX=()
  read_hosts "$hlab"
  [ "${#nodes[@]}" -gt 0 ] || lab_die "cluster $name has no nodes"
  for n in "${nodes[@]}"; do
    [ -n "${HOST_ADDR[$n]:-}" ] || lab_die "cluster $name: '$n' is not a lab host in $hlab (LAB_SLURM_NODES / LAB_HOSTS)"
  done
  ctld_host="${nodes[0]}"
  CDIR="$SDIR/$name"
  CONF="$CDIR/etc/slurm.conf"
  mkdir -p "$CDIR"/{etc,bin,run,log,state/ctld,nodes,dev}
  chmod 755 "$SDIR" "$CDIR" "$CDIR/etc" "$CDIR/bin"
  local munge_sock="$munge_dir/socket/munge.sock"
  munge_up "$munge_dir"

  # Node lines for the cluster; devices for every lab host (a portal may add any of them).
  for n in "${!HOST_ADDR[@]}"; do make_devices "$CDIR" "$n" >/dev/null; done
  for n in "${nodes[@]}"; do
    count="$(make_devices "$CDIR" "$n")"
    port=""
    [ "$MODE" = netns ] || port=" Port=$((slurmd_port + HOST_INDEX[$n] - 1))"
    node_lines+="NodeName=$n NodeAddr=${HOST_ADDR[$n]}$port CPUs=$(nproc) RealMemory=$LAB_SLURM_NODE_MEMORY Gres=gpu:$count State=UNKNOWN"$'\n'
    gres_lines+="NodeName=$n Name=gpu File=$CDIR/dev/$n/nvidia[0-$((count - 1))]"$'\n'
  done
  render_base "$kind" "$name" "$CDIR" "$ctld_host" "${HOST_ADDR[$ctld_host]}" "$ctld_port" "$slurmd_port" "$munge_sock" \
    >"$CDIR/base.conf"
  chmod 644 "$CDIR/base.conf"
  { cat "$CDIR/base.conf"
    printf '\n# Nodes and partitions (rendered)\n%sPartitionName=%s Nodes=%s Default=YES MaxTime=INFINITE State=UP\n' \
      "$node_lines" "$LAB_SLURM_PARTITION" "$(IFS=,; echo "${nodes[*]}")"
  } | write_owned_conf "$CONF"
  printf '# Generated by scripts/lab/slurm.sh\nAutoDetect=off\n%s' "$gres_lines" | write_owned_conf "$CDIR/etc/gres.conf"

  local account="" accounting=none ssh_lab=""
  [ "$kind" = managed ] && { accounting=slurmdbd; account="$LAB_SLURM_ACCOUNT"; }
  [ "$hlab" = "$LAB_DIR" ] || ssh_lab="$hlab"
  cat >"$CDIR/cluster.env" <<ENV
# Generated by scripts/lab/slurm.sh: settings of scripts/lab/slurm/lab-slurmctl
CLUSTER="$name"
KIND="$kind"
CDIR="$CDIR"
CONF="$CONF"
GRES_CONF="$CDIR/etc/gres.conf"
BASE_CONF="$CDIR/base.conf"
HOSTS_DIR="$hlab/hosts"
CTLD_HOST="$ctld_host"
CTLD_ADDR="${HOST_ADDR[$ctld_host]}"
CTLD_PORT="$ctld_port"
SLURMD_PORT="$slurmd_port"
LOGIN_HOST="$ctld_host"
UTS="$UTS"
START_TIMEOUT="$LAB_START_TIMEOUT"
NODES="${nodes[*]}"
PARTITION="$LAB_SLURM_PARTITION"
MUNGE_SOCKET="$munge_sock"
ACCOUNTING="$accounting"
ACCOUNT="$account"
CONTROL="$CDIR/bin/lab-slurmctl"
SSH_LAB_DIR="$ssh_lab"
VERSION="$(slurmctld -V | awk '{print $2}')"
ENV
  chmod 644 "$CDIR/cluster.env"
  printf '#!/bin/sh\n# Generated by scripts/lab/slurm.sh: lab-slurmctl of the lab cluster %s\nexec %s %s "$@"\n' \
    "$name" "$CTL" "$CDIR/cluster.env" >"$CDIR/bin/lab-slurmctl"
  chmod 755 "$CDIR/bin/lab-slurmctl"

  # Daemons started on other files (an earlier `up` with other settings) restart on these.
  local sum
  sum="$(cat "$CONF" "$CDIR/etc/gres.conf" | sha256sum | cut -c1-64)"
  if [ -f "$CDIR/run/conf.sha256" ] && [ "$(cat "$CDIR/run/conf.sha256")" != "$sum" ]; then
    lab_log "cluster $name: configuration changed since its daemons started: restarting them"
    for n in "$CDIR"/nodes/*/; do [ -d "$n" ] && "$CTL" "$CDIR/cluster.env" slurmd-stop "$(basename "$n")" >/dev/null; done
    "$CTL" "$CDIR/cluster.env" stop >/dev/null
  fi
  if [ "$kind" = managed ]; then accounting_setup "$name"; fi
  "$CTL" "$CDIR/cluster.env" start >/dev/null
  if [ "$kind" = managed ]; then accounting_users "$name"; fi
  for n in "${nodes[@]}"; do "$CTL" "$CDIR/cluster.env" slurmd-start "$n" >/dev/null; done
  wait_nodes_idle "$name" "${nodes[@]}"
  printf '%s\n' "$sum" >"$CDIR/run/conf.sha256"

  # Every host of this lab sees this cluster: SLURM_CONF and lab-slurmctl (hosts.sh SetEnv).
  for n in "${!HOST_ADDR[@]}"; do
    mkdir -p "$hlab/hosts/$n/bin"
    chmod 755 "$hlab/hosts/$n" "$hlab/hosts/$n/bin"
    ln -sfn "$CDIR/etc" "$hlab/hosts/$n/slurm"
    ln -sfn "$CDIR/bin/lab-slurmctl" "$hlab/hosts/$n/bin/lab-slurmctl"
  done
  lab_log "$kind cluster $name up: slurmctld on $ctld_host (${HOST_ADDR[$ctld_host]}:$ctld_port), nodes ${nodes[*]} idle, in $(($(lab_now_ms) - t0)) ms"
}

# Cancel every job first, so the controller's saved state holds no running job that the next
# `up` would have to find missing (its node stays "mixed" until Slurm notices).
cancel_jobs() {  # CONF
  local ids i
  ids="$(SLURM_CONF="$1" timeout 10 squeue -h -o %i 2>/dev/null)" || return 0
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086
  SLURM_CONF="$1" timeout 10 scancel $ids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    [ -z "$(SLURM_CONF="$1" timeout 5 squeue -h -t running,completing,configuring -o %i 2>/dev/null)" ] && return 0
    sleep 0.1
  done
}

cluster_down() {  # NAME
  local cdir="$SDIR/$1" nd n
  [ -f "$cdir/cluster.env" ] || return 0
  cancel_jobs "$cdir/etc/slurm.conf"
  for nd in "$cdir"/nodes/*/; do
    [ -d "$nd" ] || continue
    n="$(basename "${nd%/}")"
    "$CTL" "$cdir/cluster.env" slurmd-stop "$n" >/dev/null || true
    "$CTL" "$cdir/cluster.env" steps-kill "$n" >/dev/null || true
  done
  "$CTL" "$cdir/cluster.env" stop >/dev/null || true
  local hosts_dir
  hosts_dir="$(sed -n 's/^HOSTS_DIR="\(.*\)"$/\1/p' "$cdir/cluster.env")"
  for n in "$hosts_dir"/*/; do
    n="${n%/}"
    if [ -L "$n/slurm" ] && [ "$(readlink "$n/slurm")" = "$cdir/etc" ]; then rm -f "$n/slurm"; fi
    if [ -L "$n/bin/lab-slurmctl" ]; then rm -f "$n/bin/lab-slurmctl"; fi
  done
  lab_log "cluster $1 down"
}

# --- the external cluster's own hosts --------------------------------------------------------

ext_hosts() {  # up|down
  local hlab="$SDIR/$LAB_SLURM_EXT_CLUSTER/hosts-lab"
  if [ "$1" = up ]; then
    mkdir -p "$hlab/keys"
    # The lab's client key opens these hosts too (hosts.sh keeps an existing key).
    [ -f "$LAB_DIR/keys/id_ed25519" ] || lab_die "no lab client key ($LAB_DIR/keys): scripts/lab/hosts.sh up first"
    cmp -s "$LAB_DIR/keys/id_ed25519" "$hlab/keys/id_ed25519" ||
      cp -p "$LAB_DIR/keys/id_ed25519" "$LAB_DIR/keys/id_ed25519.pub" "$hlab/keys/"
  else
    [ -d "$hlab/hosts" ] || return 0
  fi
  LAB_DIR="$hlab" LAB_HOSTS=2 LAB_HOST_PREFIX="$LAB_SLURM_EXT_CLUSTER-node" LAB_BRIDGE="$LAB_SLURM_EXT_BRIDGE" \
    LAB_SUBNET="$LAB_SLURM_EXT_SUBNET" LAB_NETNS_PREFIX="$LAB_SLURM_EXT_BRIDGE-" LAB_LOOPBACK_NET="" \
    LAB_USER="$LAB_USER" "$LAB_SCRIPTS/hosts.sh" "$1" | sed "s/^hosts:/slurm: $LAB_SLURM_EXT_CLUSTER hosts:/" >&2
  return "${PIPESTATUS[0]}"
}

# --- commands --------------------------------------------------------------------------------

cmd_up() {
  lab_require_root
  lab_require_cmds slurmctld slurmd slurmdbd sinfo sacctmgr munged mungekey munge unmunge \
    mariadbd mariadb-install-db mariadb mariadb-admin nsenter unshare setsid mknod
  local t0
  t0="$(lab_now_ms)"
  mkdir -p "$SDIR"
  HOST_ADDR=(); HOST_INDEX=()
  read_hosts "$LAB_DIR"
  local -a nodes
  read -r -a nodes <<<"$LAB_SLURM_NODES"
  local cdir="$SDIR/$LAB_SLURM_CLUSTER"
  munge_up "$cdir/munge"
  db_up
  dbd_up "$cdir/munge/socket/munge.sock"
  cluster_up managed "$LAB_SLURM_CLUSTER" "$LAB_DIR" "$LAB_SLURM_CTLD_PORT" "$LAB_SLURM_SLURMD_PORT" \
    "$cdir/munge" "${nodes[@]}"
  if [ "$LAB_SLURM_EXTERNAL" = 1 ]; then
    ext_hosts up
    local ecdir="$SDIR/$LAB_SLURM_EXT_CLUSTER"
    cluster_up external "$LAB_SLURM_EXT_CLUSTER" "$ecdir/hosts-lab" "$LAB_SLURM_EXT_CTLD_PORT" \
      "$LAB_SLURM_EXT_SLURMD_PORT" "$ecdir/munge" "$LAB_SLURM_EXT_CLUSTER-node1" "$LAB_SLURM_EXT_CLUSTER-node2"
  fi
  "${TOOL[@]}" publish "$LAB_DIR"
  lab_log "up in $(($(lab_now_ms) - t0)) ms (inventory: $LAB_DIR/inventory.json, section slurm)"
}

cmd_down() {
  lab_require_root
  local d
  for d in "$SDIR"/*/; do
    d="${d%/}"
    [ -f "$d/cluster.env" ] || continue
    grep -q '^KIND="external"' "$d/cluster.env" || continue
    cluster_down "$(basename "$d")"
    munge_down "$d/munge"
    rm -f "$d/cluster.env"
  done
  [ ! -d "$SDIR/$LAB_SLURM_EXT_CLUSTER/hosts-lab" ] || ext_hosts down || true
  for d in "$SDIR"/*/; do
    d="${d%/}"
    [ -f "$d/cluster.env" ] || continue
    cluster_down "$(basename "$d")"
    rm -f "$d/cluster.env"
  done
  dbd_stop
  lab_stop_pid "$DBDIR/mariadbd.pid" "$MYSQL_MARK" 30
  for d in "$SDIR"/*/; do if [ -d "${d%/}/munge" ]; then munge_down "${d%/}/munge"; fi; done
  lab_unpublish slurm
  lab_log "down (configs, state and the accounting database kept under $SDIR)"
}

cmd_status() {
  local d rc=0
  for d in "$SDIR"/*/; do
    [ -f "$d/cluster.env" ] || continue
    "$CTL" "$d/cluster.env" status || rc=1
  done
  if [ -f "$DBDIR/db.env" ]; then
    if dbd_pid >/dev/null && wait_tcp 127.0.0.1 "$LAB_SLURM_DBD_PORT" 1 2>/dev/null; then
      lab_log "slurmdbd up on port $LAB_SLURM_DBD_PORT"
    else
      lab_log "slurmdbd DOWN"; rc=1
    fi
  fi
  ls "$SDIR"/*/cluster.env >/dev/null 2>&1 || { lab_log "not running ($SDIR)"; exit 1; }
  exit "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
