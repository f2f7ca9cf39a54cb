"""Helpers of the lab shell scripts: readiness probes, credentials, configs, the inventory.

Stdlib only, except `redfish-htpasswd` (bcrypt) and `redfish-check` (sushy), which run under the
project's virtualenv. Settings arrive as arguments or through the LAB_* environment of the
calling script; secrets are read from and written to mode-600 files, never printed.

    labtool.py wait-banner ADDR PORT TIMEOUT
    labtool.py wait-http URL TIMEOUT [CAFILE]
    labtool.py creds FILE USERNAME LENGTH
    labtool.py hosts-publish LAB_DIR
    labtool.py redfish-config LAB_DIR          (env: LAB_HOSTS..., LAB_REDFISH_*)
    labtool.py redfish-htpasswd CREDS HTPASSWD ROUNDS
    labtool.py redfish-publish LAB_DIR
    labtool.py redfish-check LAB_DIR
    labtool.py ipmi-publish LAB_DIR
    labtool.py unpublish LAB_DIR COMPONENT
    labtool.py merge LAB_DIR
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import string
import subprocess
import sys
import time
import ssl
import urllib.error
import urllib.request
import uuid
from pathlib import Path

COMPONENTS = ("hosts", "redfish", "ipmi", "slurm", "salt")
UUID_NS = uuid.UUID("5b0c6a52-6f7e-4d1b-9d55-8a3f0d9e2c41")  # fixed: same names, same system ids


def fail(msg: str) -> None:
    print(f"labtool: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


# --- files -----------------------------------------------------------------------------------

def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_kv(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def read_creds(path: Path) -> tuple[str, str]:
    kv = read_kv(path)
    return kv["username"], kv["password"]


def cmd_creds(path: str, username: str, length: str) -> None:
    """Create FILE (mode 600) with username= and a random password=, once."""
    p = Path(path)
    if p.exists():
        os.chmod(p, 0o600)
        return
    alphabet = string.ascii_letters + string.digits
    password = "".join(secrets.choice(alphabet) for _ in range(int(length)))
    p.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(p, f"username={username}\npassword={password}\n", 0o600)


# --- probes ----------------------------------------------------------------------------------

def cmd_wait_banner(addr: str, port: str, timeout: str) -> None:
    """Wait until ADDR:PORT speaks SSH (a banner line, not just an open TCP port)."""
    deadline = time.monotonic() + float(timeout)
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, int(port)), timeout=1) as s:
                s.settimeout(max(0.2, min(2.0, deadline - time.monotonic())))
                data = b""
                while b"\n" not in data and len(data) < 256:
                    chunk = s.recv(256)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"SSH-"):
                    return
                last = f"unexpected banner {data[:40]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.02)
    fail(f"no SSH banner from {addr}:{port} within {timeout}s ({last})")


def cmd_wait_http(url: str, timeout: str, cafile: str = "") -> None:
    """Wait for 200 from `url`; an https URL is verified against `cafile` (the lab's own cert)."""
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    deadline = time.monotonic() + float(timeout)
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.05)
    fail(f"{url} did not answer 200 within {timeout}s ({last})")


# --- inventory -------------------------------------------------------------------------------

def fragment_path(lab_dir: Path, component: str) -> Path:
    return lab_dir / "inventory.d" / f"{component}.json"


def publish(lab_dir: Path, component: str, fragment: dict) -> None:
    (lab_dir / "inventory.d").mkdir(parents=True, exist_ok=True)
    write_atomic(fragment_path(lab_dir, component), json.dumps(fragment, indent=2) + "\n")
    cmd_merge(str(lab_dir))


def cmd_unpublish(lab_dir: str, component: str) -> None:
    fragment_path(Path(lab_dir), component).unlink(missing_ok=True)
    cmd_merge(lab_dir)


def cmd_merge(lab_dir: str) -> None:
    """inventory.json = the fragments of the components that are up (removed when none is)."""
    lab = Path(lab_dir)
    inventory: dict = {"version": 1, "lab_dir": str(lab), "components": []}
    for component in COMPONENTS:
        p = fragment_path(lab, component)
        if p.exists():
            inventory.update(json.loads(p.read_text()))
            inventory["components"].append(component)
    target = lab / "inventory.json"
    if inventory["components"]:
        write_atomic(target, json.dumps(inventory, indent=2) + "\n")
    else:
        target.unlink(missing_ok=True)


def host_key(pub_path: Path) -> tuple[str, str, str]:
    key_type, key_b64 = pub_path.read_text().split()[:2]
    out = subprocess.run(["ssh-keygen", "-lf", str(pub_path)], check=True, capture_output=True,
                         text=True).stdout.split()
    return key_type, key_b64, out[1]  # "256 SHA256:... comment (ED25519)"


def cmd_hosts_publish(lab_dir: str) -> None:
    lab = Path(lab_dir)
    hosts = []
    for state_file in sorted((lab / "hosts").glob("*/state")):
        st = read_kv(state_file)
        key_type, key_b64, fingerprint = host_key(state_file.parent / "ssh_host_ed25519_key.pub")
        hosts.append({
            "index": int(st["index"]), "name": st["name"], "address": st["address"],
            "port": int(st["port"]), "user": st["user"], "netns": st.get("netns") or None,
            "host_key_type": key_type, "host_key": key_b64, "fingerprint": fingerprint,
        })
    hosts.sort(key=lambda h: h["index"])
    known_hosts = lab / "keys" / "known_hosts"
    lines = []
    for h in hosts:
        target = h["address"] if h["port"] == 22 else f"[{h['address']}]:{h['port']}"
        lines.append(f"{target} {h['host_key_type']} {h['host_key']}\n")
    write_atomic(known_hosts, "".join(lines))
    net = read_kv(lab / "hosts" / "network") if (lab / "hosts" / "network").exists() else {}
    client_key = lab / "keys" / "id_ed25519"
    publish(lab, "hosts", {
        "hosts": [{k: v for k, v in h.items() if k != "index"} for h in hosts],
        "client_key_path": str(client_key),
        "client_public_key": (lab / "keys" / "id_ed25519.pub").read_text().strip(),
        "known_hosts": str(known_hosts),
        "network": {"mode": net.get("mode"), "bridge": net.get("bridge") or None,
                    "subnet": net.get("subnet"), "gateway": net.get("gateway") or None,
                    "uts": net.get("uts") == "1"},
    })


# --- Redfish ---------------------------------------------------------------------------------

def host_names() -> list[str]:
    spec = os.environ.get("LAB_HOSTS", "3")
    if spec.isdigit():
        prefix = os.environ.get("LAB_HOST_PREFIX", "lab-node")
        return [f"{prefix}{i}" for i in range(1, int(spec) + 1)]
    return spec.replace(",", " ").split()


def power_delay() -> tuple[int, int]:
    """(low, high) seconds for the fake driver; sushy-tools' own is randint(1, 11)."""
    spec = os.environ.get("LAB_REDFISH_DELAY", "")
    if spec:
        low, _, high = spec.partition(":")
        return int(low), int(high or low)
    if os.environ.get("LAB_REDFISH_FAST", "0") not in ("", "0", "false", "no"):
        return 1, 1
    return 1, 11


def cmd_redfish_config(lab_dir: str) -> None:
    """Write redfish/emulator.conf and redfish/systems.json from the environment."""
    lab = Path(lab_dir)
    rdir = lab / "redfish"
    port = int(os.environ.get("LAB_REDFISH_PORT", "18000"))
    listen = os.environ.get("LAB_REDFISH_HOST", "127.0.0.1")
    subnet = os.environ.get("LAB_SUBNET", "10.77.0")
    extra = int(os.environ.get("LAB_REDFISH_EXTRA", "0") or 0)
    names = [(n, f"{subnet}.{i + 1}") for i, n in enumerate(host_names(), start=1)]
    names += [(f"lab-extra-{i:03d}", None) for i in range(1, extra + 1)]
    systems = []
    for name, ip in names:
        ident = str(uuid.uuid5(UUID_NS, f"{listen}:{port}/{name}"))
        mac = "52:54:00:" + ":".join(f"{b:02x}" for b in hashlib.sha256(ident.encode()).digest()[:3])
        nic = {"mac": mac, "ip": ip} if ip else {"mac": mac}
        systems.append({"uuid": ident, "name": name, "power_state": "Off", "nics": [nic]})
    conf = (
        "# Generated by scripts/lab/redfish.sh; edits are overwritten.\n"
        f"SUSHY_EMULATOR_LISTEN_IP = {listen!r}\n"
        f"SUSHY_EMULATOR_LISTEN_PORT = {port}\n"
        "SUSHY_EMULATOR_FAKE_DRIVER = True\n"
        f"SUSHY_EMULATOR_AUTH_FILE = {str(rdir / 'htpasswd')!r}\n"
        f"SUSHY_EMULATOR_STATE_DIR = {str(rdir / 'state')!r}\n"
        # TLS with the lab's own certificate: the portal refuses plain-http BMCs.
        f"SUSHY_EMULATOR_SSL_CERT = {str(rdir / 'tls.crt')!r}\n"
        f"SUSHY_EMULATOR_SSL_KEY = {str(rdir / 'tls.key')!r}\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {json.dumps(systems, indent=1)}\n"
        # Our launcher (sushy_emulator.py) reads this; sushy-tools ignores unknown keys.
        f"AIMX_LAB_POWER_DELAY = {list(power_delay())!r}\n"
    )
    write_atomic(rdir / "emulator.conf", conf)
    write_atomic(rdir / "systems.ids", "".join(f"{s['uuid']} {s['name']}\n" for s in systems))
    host_set = set(host_names())
    write_atomic(rdir / "systems.json", json.dumps({
        "url": f"https://{listen}:{port}",
        "ca_file": str(rdir / "tls.crt"),
        "power_delay": list(power_delay()),
        "systems": {s["name"]: s["uuid"] for s in systems if s["name"] in host_set},
        "extra_systems": {s["name"]: s["uuid"] for s in systems if s["name"] not in host_set},
    }, indent=2) + "\n")


def cmd_redfish_htpasswd(creds: str, htpasswd: str, rounds: str) -> None:
    """(Re)write the bcrypt htpasswd when it does not match the credentials or cost."""
    import bcrypt

    username, password = read_creds(Path(creds))
    path = Path(htpasswd)
    if path.exists():
        user, _, digest = path.read_text().strip().partition(":")
        cost = digest.split("$")[2] if digest.count("$") >= 3 else ""
        if user == username and cost == f"{int(rounds):02d}" and \
                bcrypt.checkpw(password.encode(), digest.encode()):
            return
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(int(rounds))).decode()
    write_atomic(path, f"{username}:{digest}\n", 0o600)


def cmd_redfish_publish(lab_dir: str) -> None:
    lab = Path(lab_dir)
    rdir = lab / "redfish"
    info = json.loads((rdir / "systems.json").read_text())
    username, _ = read_creds(rdir / "credentials")
    info.update(username=username, credentials_file=str(rdir / "credentials"))
    publish(lab, "redfish", {"redfish": info})


def cmd_redfish_check(lab_dir: str) -> None:
    """sushy end to end: list systems, power the first On, poll until On, restore Off."""
    import sushy
    from sushy import auth

    rdir = Path(lab_dir) / "redfish"
    info = json.loads((rdir / "systems.json").read_text())
    username, password = read_creds(rdir / "credentials")
    t0 = time.monotonic()
    conn = sushy.Sushy(info["url"], auth=auth.BasicAuth(username, password), server_side_retries=0,
                       verify=info.get("ca_file") or True)
    members = conn.get_system_collection().get_members()
    by_id = {m.identity: m for m in members}
    missing = [n for n, i in info["systems"].items() if i not in by_id]
    if missing:
        fail(f"systems missing from the emulator: {missing}")
    name, ident = next(iter(info["systems"].items()))
    system = by_id[ident]
    was = system.power_state

    def settle(want, reset):
        system.reset_system(reset)
        deadline = time.monotonic() + info["power_delay"][1] + 5
        while system.power_state != want:
            if time.monotonic() > deadline:
                fail(f"{name} did not reach {want.value} in time (still {system.power_state})")
            time.sleep(0.2)
            system.refresh()

    t1 = time.monotonic()
    settle(sushy.PowerState.ON, sushy.ResetType.ON)
    t_on = time.monotonic() - t1
    if was == sushy.PowerState.OFF:
        settle(sushy.PowerState.OFF, sushy.ResetType.FORCE_OFF)
    print(f"redfish: check ok: {len(members)} systems listed; {name} On after {t_on:.1f}s "
          f"(total {time.monotonic() - t0:.1f}s; power state restored to {was.value})")


# --- IPMI ------------------------------------------------------------------------------------

def cmd_ipmi_publish(lab_dir: str) -> None:
    lab = Path(lab_dir)
    idir = lab / "ipmi"
    st = read_kv(idir / "bmc.state")
    username, _ = read_creds(idir / "credentials")
    publish(lab, "ipmi", {"ipmi": {
        "node": st["node"], "host": st["host"], "port": int(st["port"]),
        "interface": "lanplus", "cipher_suite": 3, "username": username,
        "credentials_file": str(idir / "credentials"), "password_file": str(idir / "password"),
        "power_state_file": str(idir / "power"),
    }})


COMMANDS = {
    "wait-banner": cmd_wait_banner, "wait-http": cmd_wait_http, "creds": cmd_creds,
    "hosts-publish": cmd_hosts_publish, "redfish-config": cmd_redfish_config,
    "redfish-htpasswd": cmd_redfish_htpasswd, "redfish-publish": cmd_redfish_publish,
    "redfish-check": cmd_redfish_check, "ipmi-publish": cmd_ipmi_publish,
    "unpublish": cmd_unpublish, "merge": cmd_merge,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
