#!/usr/bin/env bash
# Idempotent installer for AI Infra Matrix (used by `make install|run|test`).
#
# Usage: scripts/install.sh [run|test]     (default: run)
#   run   - runtime deps: redis-server, LDAP headers + requirements/base.txt
#   test  - adds postgresql-15, chromium, docker-compose, Slurm/munge/MariaDB (lab) + requirements/dev.txt,
#           and the lab's Salt in its own virtualenv (LAB_SALT_VENV, default var/salt-venv; SKIP_SALT=1 skips)
#
# Environment (all optional):
#   VENV_DIR        virtualenv location            (default: .venv in repo root)
#   PYTHON          interpreter used to create it  (default: python3)
#   SKIP_APT=1      never check/install Debian packages
#   APT_PACKAGES    override the package list for the chosen profile
#   INSTALL_PIP_ARGS  extra args for `pip install -r`  (default: --quiet;
#                     set to "" to see pip's full output)
#
# Every step is skipped when already satisfied, so re-running is cheap.
set -euo pipefail

# Work from the repo root so relative paths (.venv, requirements/) are stable
# no matter where make or a developer invokes us from.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PROFILE="${1:-run}"
VENV_DIR="${VENV_DIR:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
SKIP_APT="${SKIP_APT:-0}"
INSTALL_PIP_ARGS="${INSTALL_PIP_ARGS---quiet}"

log() { printf 'install: %s\n' "$*"; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }

case "$PROFILE" in
  run)
    # libldap/libsasl headers: python-ldap (LDAP login) compiles against them.
    # nginx: the front of `make run` (scripts/front.sh): /ws/ to daphne, the rest to gunicorn.
    default_pkgs="redis-server libldap2-dev libsasl2-dev ipmitool openssh-client nginx"
    req_main="requirements/base.txt"
    req_files=("requirements/base.txt")
    ;;
  test)
    # docker-compose (v1) only validates compose files; no engine needed.
    # slapd/ldap-utils: the suite's own directory server for LDAP login tests.
    # nginx: the shipped docker/nginx.conf in front of the suite's daphne (client addresses).
    # slurm*/munge/mariadb-server: the lab's Slurm clusters (scripts/lab/slurm.sh); `run` stays light.
    default_pkgs="redis-server libldap2-dev libsasl2-dev postgresql-15 chromium docker-compose slapd ldap-utils openssh-server openssh-client iproute2 util-linux sudo openipmi ipmitool nginx openssl slurmctld slurmd slurm-client munge slurmdbd mariadb-server"
    req_main="requirements/dev.txt"
    # dev.txt pulls in base.txt via `-r base.txt`, so both affect the result.
    req_files=("requirements/base.txt" "requirements/dev.txt")
    ;;
  *)
    die "unknown profile '$PROFILE' (expected: run | test)"
    ;;
esac
APT_PACKAGES="${APT_PACKAGES:-$default_pkgs}"

# --- 1. Debian packages -----------------------------------------------------
pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

if [ "$SKIP_APT" = "1" ]; then
  log "apt check skipped (SKIP_APT=1)"
elif ! command -v dpkg-query >/dev/null 2>&1; then
  log "apt check skipped (dpkg-query not available; not a Debian system?)"
else
  missing=()
  for pkg in $APT_PACKAGES; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "apt packages present ($APT_PACKAGES)"
  elif [ "$(id -u)" -eq 0 ]; then
    log "apt installing: ${missing[*]}"
    # One update per run, and only when something is actually missing.
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    log "apt packages installed: ${missing[*]}"
  else
    die "missing Debian packages: ${missing[*]}
  install them as root, e.g.:
    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}
  (or re-run with SKIP_APT=1 if you provide them another way)"
  fi
fi

# --- 2. Virtualenv ----------------------------------------------------------
if [ -x "$VENV_DIR/bin/python" ]; then
  log "venv present ($VENV_DIR)"
else
  command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found; Python >= 3.11 is required"
  # Django 5.2 + our code assume 3.11+; fail early with a clear message.
  if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    die "Python >= 3.11 required, found $("$PYTHON" -c 'import sys; print(sys.version.split()[0])') ($PYTHON); set PYTHON=/path/to/python3.11"
  fi
  log "creating venv ($VENV_DIR)"
  "$PYTHON" -m venv "$VENV_DIR"
  "$VENV_DIR/bin/python" -m pip install --quiet --upgrade pip
  log "venv created, pip upgraded"
fi

# --- 3. Python requirements -------------------------------------------------
for f in "${req_files[@]}"; do
  [ -f "$f" ] || die "requirements file not found: $f"
done

# Hash the content of every file involved (order fixed) so any edit re-installs.
want_hash="$(cat "${req_files[@]}" | sha256sum | awk '{print $1}')"
stamp="$VENV_DIR/.req-$PROFILE.sha256"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_hash" ]; then
  log "requirements up to date ($req_main)"
else
  log "installing requirements ($req_main)"
  # shellcheck disable=SC2086  # word-splitting of the extra args is intended
  "$VENV_DIR/bin/pip" install $INSTALL_PIP_ARGS -r "$req_main"
  # Only stamp after pip succeeded (set -e aborts before this on failure).
  printf '%s\n' "$want_hash" > "$stamp"
  log "requirements installed ($req_main)"
fi

# --- 4. The lab's Salt (test profile only) ----------------------------------
# salt-master, salt-api and salt-minion for scripts/lab/salt.sh, in a virtualenv of their own:
# the portal never imports salt (it talks to salt-api over HTTPS), so salt's many pins stay out
# of .venv. LAB_SALT_VENV moves it; SKIP_SALT=1 skips it. `salt` builds from its sdist (~60 s).
if [ "$PROFILE" = test ] && [ "${SKIP_SALT:-0}" != 1 ]; then
  SALT_VENV="${LAB_SALT_VENV:-$ROOT/var/salt-venv}"
  salt_req="requirements/salt-lab.txt"
  [ -f "$salt_req" ] || die "requirements file not found: $salt_req"
  salt_hash="$(sha256sum "$salt_req" | awk '{print $1}')"
  if [ -x "$SALT_VENV/bin/salt-master" ] && [ "$(cat "$SALT_VENV/.req.sha256" 2>/dev/null)" = "$salt_hash" ]; then
    log "lab Salt up to date ($SALT_VENV)"
  else
    [ -x "$SALT_VENV/bin/python" ] || "$PYTHON" -m venv "$SALT_VENV"
    log "installing the lab's Salt ($salt_req into $SALT_VENV)"
    # shellcheck disable=SC2086
    "$SALT_VENV/bin/pip" install $INSTALL_PIP_ARGS -r "$salt_req"
    printf '%s\n' "$salt_hash" >"$SALT_VENV/.req.sha256"
    log "lab Salt installed ($("$SALT_VENV/bin/salt-master" --version))"
  fi
fi
