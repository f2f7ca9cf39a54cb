#!/bin/sh
# AI Infra Matrix: enroll this node's Salt minion (served by the portal at /api/v1/salt/bootstrap.sh).
#
#   curl -fsS https://PORTAL/api/v1/salt/bootstrap.sh -o /tmp/aimx-salt-bootstrap.sh
#   sudo sh /tmp/aimx-salt-bootstrap.sh --portal https://PORTAL        # asks for the token
#
# 1. Redeems the one-time enrollment token ONCE (POST /api/v1/salt/enroll/): the master's address,
#    public key and fingerprint, this minion's id, and a short-lived report token.
# 2. Writes the minion configuration (master, id, master_finger: the master's key is pinned) and
#    the master's public key, then starts (restarts) the minion.
# 3. Reports this minion's key fingerprint (sha256 of its stripped minion.pub, what `salt-key -f`
#    shows on the master) with the report token; the portal accepts the pending key only if it
#    is exactly this key, then pings it.
#
# The token: read from --token-file, else from standard input when it is not a terminal, else
# asked on the terminal. `--token T` works too, but puts the token in the process list and the
# shell history; it is single-use and short-lived, so that exposure ends when it is redeemed.
#
# Options:
#   --portal URL        the portal (required)
#   --token-file FILE   read the token from FILE
#   --token TOKEN       the token itself (see above)
#   --hmac-secret-file F  instead of a token: the seed's signed request (HMAC-SHA256 of
#                       `minion_id|timestamp|nonce` under the shared secret in F), with --minion-id
#   --minion-id ID      the minion id of an HMAC request (a node registered under that name)
#   --cacert FILE       CA bundle to trust for the portal (curl --cacert)
#   --config-dir DIR    the minion's configuration directory        (default /etc/salt)
#   --root-dir DIR      the minion's root_dir (a second minion on one host; keep it short:
#                       Salt's unix sockets live below it)          (default: Salt's, /)
#   --salt-minion BIN   start BIN -c CONFIG_DIR -d instead of `systemctl restart salt-minion`
#   --timeout S         seconds to wait for the minion's key file    (default 60)
# Needs: curl, python3 (JSON), sha256sum.
set -eu

PORTAL="" TOKEN="" TOKEN_FILE="" HMAC_FILE="" HMAC_ID="" CACERT="" CONFIG_DIR=/etc/salt ROOT_DIR="" MINION_BIN="" TIMEOUT=60
die() { echo "salt-bootstrap: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --portal) PORTAL="${2:?}"; shift 2 ;;
    --token) TOKEN="${2:?}"; shift 2 ;;
    --token-file) TOKEN_FILE="${2:?}"; shift 2 ;;
    --hmac-secret-file) HMAC_FILE="${2:?}"; shift 2 ;;
    --minion-id) HMAC_ID="${2:?}"; shift 2 ;;
    --cacert) CACERT="${2:?}"; shift 2 ;;
    --config-dir) CONFIG_DIR="${2:?}"; shift 2 ;;
    --root-dir) ROOT_DIR="${2:?}"; shift 2 ;;
    --salt-minion) MINION_BIN="${2:?}"; shift 2 ;;
    --timeout) TIMEOUT="${2:?}"; shift 2 ;;
    *) die "unknown option $1 (see the header of this script)" ;;
  esac
done
[ -n "$PORTAL" ] || die "--portal URL is required"
PORTAL="${PORTAL%/}"
for tool in curl python3 sha256sum; do command -v "$tool" >/dev/null 2>&1 || die "$tool is required"; done

if [ -n "$HMAC_FILE" ]; then
  [ -n "$HMAC_ID" ] || die "--hmac-secret-file needs --minion-id"
elif [ -z "$TOKEN" ]; then
  if [ -n "$TOKEN_FILE" ]; then
    TOKEN="$(head -n1 "$TOKEN_FILE")"
  elif [ ! -t 0 ]; then
    read -r TOKEN || true
  else
    printf 'Enrollment token: ' >&2
    stty -echo 2>/dev/null || true
    read -r TOKEN </dev/tty || true
    stty echo 2>/dev/null || true
    echo >&2
  fi
fi
[ -n "$TOKEN" ] || [ -n "$HMAC_FILE" ] || die "no enrollment token"

umask 077
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT INT TERM

# JSON bodies go through files (never the command line): the token is not shown by ps.
post() {  # PATH BODY_FILE -> answer in $WORK/answer; returns the HTTP status on stdout
  set -- "$1" "$2"
  if [ -n "$CACERT" ]; then
    curl -sS --cacert "$CACERT" -o "$WORK/answer" -w '%{http_code}' -H 'Content-Type: application/json' \
      --data-binary "@$2" "$PORTAL$1"
  else
    curl -sS -o "$WORK/answer" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$2" "$PORTAL$1"
  fi
}

if [ -n "$HMAC_FILE" ]; then
  python3 - "$HMAC_ID" "$HMAC_FILE" <<'PY' >"$WORK/redeem.json"
import hashlib, hmac, json, secrets, sys, time
minion_id, secret = sys.argv[1], open(sys.argv[2]).readline().strip()
ts, nonce = int(time.time()), secrets.token_hex(16)
sig = hmac.new(secret.encode(), f"{minion_id}|{ts}|{nonce}".encode(), hashlib.sha256).hexdigest()
print(json.dumps({"minion_id": minion_id, "timestamp": ts, "nonce": nonce, "signature": sig}))
PY
  status="$(post /api/v1/salt/enroll/hmac/ "$WORK/redeem.json")" || die "portal unreachable"
else
  printf '%s' "$TOKEN" | python3 -c 'import json,sys,time; print(json.dumps({"token": sys.stdin.read().strip(), "timestamp": time.time()}))' >"$WORK/redeem.json"
  TOKEN=""
  status="$(post /api/v1/salt/enroll/ "$WORK/redeem.json")" || die "portal unreachable"
fi
[ "$status" = 200 ] || die "enrollment refused (HTTP $status): $(cat "$WORK/answer")"

# The answer -> shell-safe values (python quotes them) and files.
python3 - "$WORK" <<'PY' >"$WORK/vars"
import json, re, shlex, sys
work = sys.argv[1]
a = json.load(open(f"{work}/answer"))
m = a["master"]
if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}", a["minion_id"]):
    sys.exit("bad minion id in the answer")
if not re.fullmatch(r"([0-9a-f]{2}:){31}[0-9a-f]{2}", m["fingerprint"]):
    sys.exit("bad master fingerprint in the answer")
open(f"{work}/master.pub", "w").write(m["public_key"])
open(f"{work}/report_token", "w").write(a["report_token"])
for k, v in (("MINION_ID", a["minion_id"]), ("MASTER", m["address"]), ("MASTER_PORT", str(int(m["port"]))),
             ("MASTER_FINGER", m["fingerprint"]), ("REPORT_PATH", a["report_path"])):
    print(f"{k}={shlex.quote(v)}")
PY
. "$WORK/vars"
echo "salt-bootstrap: enrolling minion $MINION_ID with master $MASTER:$MASTER_PORT (master key $MASTER_FINGER)"

# Configuration: our own drop-in (the main file is created empty if missing).
mkdir -p "$CONFIG_DIR/minion.d"
[ -e "$CONFIG_DIR/minion" ] || : >"$CONFIG_DIR/minion"
{
  echo "# Written by the AI Infra Matrix salt-bootstrap; the portal enrolled this minion."
  echo "id: $MINION_ID"
  echo "master: $MASTER"
  echo "master_port: $MASTER_PORT"
  echo "# The master's key is pinned: a master with another key is refused."
  echo "master_finger: '$MASTER_FINGER'"
  echo "hash_type: sha256"
  echo "acceptance_wait_time: 2"
  echo "acceptance_wait_time_max: 10"
  [ -z "$ROOT_DIR" ] || echo "root_dir: $ROOT_DIR"
} >"$CONFIG_DIR/minion.d/99-aimatrix-enroll.conf"
PKI_DIR="${ROOT_DIR%/}/etc/salt/pki/minion"
mkdir -p "$PKI_DIR"
install -m 644 "$WORK/master.pub" "$PKI_DIR/minion_master.pub"

if [ -n "$MINION_BIN" ]; then
  "$MINION_BIN" -c "$CONFIG_DIR" -d -l warning
else
  systemctl restart salt-minion
fi

# The minion writes its key pair on its first start.
waited=0
while [ ! -s "$PKI_DIR/minion.pub" ]; do
  [ "$waited" -lt "$TIMEOUT" ] || die "the minion wrote no key in $PKI_DIR within $TIMEOUT s"
  sleep 1; waited=$((waited + 1))
done
FINGER="$(printf '%s' "$(cat "$PKI_DIR/minion.pub")" | sha256sum | cut -c1-64 | sed 's/../&:/g; s/:$//')"
echo "salt-bootstrap: this minion's key fingerprint: $FINGER"

python3 - "$WORK" "$FINGER" <<'PY' >"$WORK/report.json"
import json, sys
print(json.dumps({"report_token": open(f"{sys.argv[1]}/report_token").read().strip(), "fingerprint": sys.argv[2]}))
PY
status="$(post "$REPORT_PATH" "$WORK/report.json")" || die "portal unreachable for the report"
[ "$status" = 202 ] || die "fingerprint report refused (HTTP $status): $(cat "$WORK/answer")"
echo "salt-bootstrap: reported; the portal accepts the key if the master holds this one: $(cat "$WORK/answer")"
