#!/usr/bin/env bash
# Private, throw-away OpenLDAP server (slapd) for tests, benchmarks and local runs.
# Own port, own dir, plain slapd.conf (mdb backend + memberof overlay); never touches a
# system slapd or /etc/ldap/slapd.d.
#
# Usage: scripts/slapd.sh start|stop|status|uri|rootdn|rootpw|load FILE.ldif
#
#   start        write the config (first time), start slapd, wait until it answers, create
#                the suffix entry when the database is empty, print URI and root DN
#   stop         stop our slapd (SIGTERM, SIGKILL after SLAPD_STOP_TIMEOUT)
#   status       exit 0 when running
#   load FILE    ldapadd FILE as the root DN (entries that already exist are an error)
#   uri|rootdn|rootpw   print one value (for other scripts)
#
# Environment (all optional):
#   SLAPD_DIR            state dir (slapd.conf, data/, pid, root password)  (default: $PWD/var/slapd)
#   SLAPD_PORT           TCP port on 127.0.0.1                               (default: 3389)
#   SLAPD_SUFFIX         database suffix                                     (default: dc=example,dc=org)
#   SLAPD_ROOT_PW        root DN password (default: random, kept in $SLAPD_DIR/rootpw, mode 600)
#   SLAPD_MEMBEROF       1 = load the memberof overlay (memberOf on users)   (default: 1)
#   SLAPD_START_TIMEOUT  seconds to wait for an answer                       (default: 10)
#   SLAPD_STOP_TIMEOUT   seconds to wait for exit                            (default: 10)
set -euo pipefail

SLAPD_DIR="${SLAPD_DIR:-$PWD/var/slapd}"
SLAPD_PORT="${SLAPD_PORT:-3389}"
SLAPD_SUFFIX="${SLAPD_SUFFIX:-dc=example,dc=org}"
SLAPD_MEMBEROF="${SLAPD_MEMBEROF:-1}"
SLAPD_START_TIMEOUT="${SLAPD_START_TIMEOUT:-10}"
SLAPD_STOP_TIMEOUT="${SLAPD_STOP_TIMEOUT:-10}"
SCHEMA_DIR="${SLAPD_SCHEMA_DIR:-/etc/ldap/schema}"
MODULE_DIR="${SLAPD_MODULE_DIR:-/usr/lib/ldap}"

# slapd.conf wants absolute paths.
case "$SLAPD_DIR" in /*) ;; *) SLAPD_DIR="$PWD/$SLAPD_DIR" ;; esac
CONF="$SLAPD_DIR/slapd.conf"
DATA_DIR="$SLAPD_DIR/data"
PID_FILE="$SLAPD_DIR/slapd.pid"
PW_FILE="$SLAPD_DIR/rootpw"
URI="ldap://127.0.0.1:$SLAPD_PORT/"
ROOT_DN="cn=admin,$SLAPD_SUFFIX"

log() { printf 'slapd: %s\n' "$*"; }
die() { printf 'slapd: ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=lib/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"
alive() { proc_alive "$@"; }
our_pid() { proc_from_pidfile "$PID_FILE" slapd; }

# Anything (ours or not) answering LDAP on the port: an anonymous read of the root DSE.
answers() {
  ldapsearch -x -LLL -o nettimeout=2 -H "$URI" -b "" -s base namingContexts >/dev/null 2>&1
}

root_pw() {
  if [ -n "${SLAPD_ROOT_PW:-}" ]; then
    printf '%s\n' "$SLAPD_ROOT_PW"
  elif [ -f "$PW_FILE" ]; then
    head -n 1 "$PW_FILE"
  else
    die "no root password: SLAPD_ROOT_PW is unset and $PW_FILE does not exist (run start first)"
  fi
}

# The password reaches ldap tools and slappasswd through a mode-600 file, never argv.
pw_tmp() {
  local pw tmp
  pw="$(root_pw)" || exit 1
  tmp="$(mktemp "$SLAPD_DIR/.pw.XXXXXX")"
  chmod 600 "$tmp"
  printf '%s' "$pw" > "$tmp"
  printf '%s\n' "$tmp"
}

with_pw_file() {
  local tmp rc=0
  tmp="$(pw_tmp)" || exit 1
  "$@" -y "$tmp" || rc=$?
  rm -f "$tmp"
  return "$rc"
}

write_config() {
  mkdir -p "$SLAPD_DIR" "$DATA_DIR"
  chmod 700 "$SLAPD_DIR"
  # Kept in the dir (mode 600) so later `load`/`rootpw` calls work without the environment.
  if [ -n "${SLAPD_ROOT_PW:-}" ]; then
    (umask 077; printf '%s\n' "$SLAPD_ROOT_PW" > "$PW_FILE")
  elif [ ! -f "$PW_FILE" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > "$PW_FILE"; echo >> "$PW_FILE")
  fi
  local hash tmp
  tmp="$(pw_tmp)"
  hash="$(slappasswd -T "$tmp")" || { rm -f "$tmp"; die "slappasswd failed"; }
  rm -f "$tmp"
  local schema memberof_module="" memberof_overlay=""
  if [ "$SLAPD_MEMBEROF" = "1" ]; then
    memberof_module="moduleload memberof"
    memberof_overlay="overlay memberof"
  fi
  (
    umask 077
    {
      for schema in core cosine inetorgperson nis; do
        printf 'include %s/%s.schema\n' "$SCHEMA_DIR" "$schema"
      done
      cat <<EOF
pidfile $PID_FILE
argsfile $SLAPD_DIR/slapd.args
modulepath $MODULE_DIR
# Debian 12 builds mdb as a module (static backends: config, ldif, monitor).
moduleload back_mdb
$memberof_module

database mdb
suffix "$SLAPD_SUFFIX"
rootdn "$ROOT_DN"
rootpw $hash
directory $DATA_DIR
maxsize 104857600
index objectClass eq
index uid,cn,member eq
$memberof_overlay

# Users may read everything but passwords; binds may compare passwords.
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by * read
EOF
    } > "$CONF.tmp"
  )
  mv "$CONF.tmp" "$CONF"
}

# The suffix entry itself, built from its first RDN, so `load` only needs the subtree.
suffix_ldif() {
  local rdn="${SLAPD_SUFFIX%%,*}"
  local attr="${rdn%%=*}" value="${rdn#*=}"
  printf 'dn: %s\n' "$SLAPD_SUFFIX"
  case "${attr,,}" in
    dc) printf 'objectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n' "$value" "$value" ;;
    o) printf 'objectClass: top\nobjectClass: organization\no: %s\n' "$value" ;;
    ou) printf 'objectClass: top\nobjectClass: organizationalUnit\nou: %s\n' "$value" ;;
    *) return 1 ;;
  esac
}

ensure_suffix() {
  if with_pw_file ldapsearch -x -LLL -H "$URI" -D "$ROOT_DN" -b "$SLAPD_SUFFIX" -s base dn \
      >/dev/null 2>&1; then
    return 0
  fi
  local ldif
  ldif="$(suffix_ldif)" || { log "suffix $SLAPD_SUFFIX: unknown first RDN, not creating it"; return 0; }
  printf '%s\n' "$ldif" | with_pw_file ldapadd -x -H "$URI" -D "$ROOT_DN" >/dev/null \
    || die "could not create the suffix entry $SLAPD_SUFFIX"
  log "created $SLAPD_SUFFIX"
}

cmd_start() {
  command -v slapd >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
  command -v slapd >/dev/null 2>&1 || die "slapd not found (apt-get install slapd ldap-utils)"
  command -v ldapsearch >/dev/null 2>&1 || die "ldapsearch not found (apt-get install ldap-utils)"
  if our_pid >/dev/null; then
    answers || die "pid $(our_pid) from $PID_FILE is alive but $URI does not answer (started on another port?)"
    log "already running ($URI, pid $(our_pid))"
    return 0
  fi
  answers && die "port $SLAPD_PORT already answered by an LDAP server not started from $SLAPD_DIR"

  write_config
  local out
  out="$(slaptest -u -f "$CONF" 2>&1)" || die "invalid $CONF: $out"
  rm -f "$PID_FILE"
  # Without -d slapd detaches; errors after the fork (e.g. port in use) go to syslog, so the
  # wait below is what tells us it really started.
  slapd -f "$CONF" -h "$URI" || die "slapd exited with $? (port $SLAPD_PORT in use?)"

  local waited=0
  until answers && our_pid >/dev/null; do
    waited=$((waited + 1))
    if [ "$waited" -gt $((SLAPD_START_TIMEOUT * 20)) ]; then
      die "no answer on $URI after ${SLAPD_START_TIMEOUT}s (port in use? try: slapd -d 1 -f $CONF -h $URI)"
    fi
    sleep 0.05
  done
  ensure_suffix
  log "started on $URI (pid $(our_pid || echo '?'))"
  log "uri $URI"
  log "rootdn $ROOT_DN"
}

cmd_stop() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($SLAPD_DIR)"
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  local waited=0
  while alive "$pid"; do
    waited=$((waited + 1))
    if [ "$waited" -gt $((SLAPD_STOP_TIMEOUT * 20)) ]; then
      log "pid $pid still alive after ${SLAPD_STOP_TIMEOUT}s, sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(our_pid)"; then
    log "running ($URI, pid $pid)"
  else
    log "not running ($SLAPD_DIR)"
    exit 1
  fi
}

cmd_load() {
  local file="${1:-}"
  [ -n "$file" ] || die "usage: $0 load FILE.ldif"
  [ -r "$file" ] || die "cannot read $file"
  our_pid >/dev/null || die "not running ($SLAPD_DIR); run start first"
  with_pw_file ldapadd -x -H "$URI" -D "$ROOT_DN" -f "$file" >/dev/null \
    || die "ldapadd of $file failed"
  log "loaded $file"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  load) shift; cmd_load "$@" ;;
  uri) printf '%s\n' "$URI" ;;
  rootdn) printf '%s\n' "$ROOT_DN" ;;
  rootpw) root_pw ;;
  *) echo "usage: $0 start|stop|status|uri|rootdn|rootpw|load FILE.ldif" >&2; exit 2 ;;
esac
