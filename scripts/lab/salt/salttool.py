"""Helpers of scripts/lab/salt.sh: key fingerprints, the eauth file, waiting for keys, the inventory.

Stdlib only (runs under LAB_PYTHON); it calls the lab's own `salt-key` (LAB_SALT_VENV) for key
states. Secrets are read from and written to mode-600 files, never printed.

    salttool.py finger PEM_FILE                         (Salt's sha256 key fingerprint, master_finger form)
    salttool.py eauth-file CREDENTIALS OUT               (user:password line for `external_auth: file`)
    salttool.py wait-keys SALT_KEY MASTER_CONF_DIR TIMEOUT ID...   (each id has a key, in any state)
    salttool.py missing-keys SALT_KEY MASTER_CONF_DIR ID...        (ids without a key on the master)
    salttool.py accept SALT_KEY MASTER_CONF_DIR ID...    (accept pending keys by exact id)
    salttool.py gpu-grains HOST                          (minion config lines: the host's lab GPUs)
    salttool.py publish LAB_DIR                          (env: LAB_SALT_* of salt.sh)
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import labtool  # noqa: E402  (the lab's shared helpers: atomic writes, credentials, publish)


def fail(msg: str) -> None:
    print(f"salttool: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def _colon(digest: str) -> str:
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def finger(pem_path: Path) -> str:
    """As salt.utils.crypt.pem_finger(path): sha256 over the PEM body lines. This is the form
    `master_finger` (on minions) and `salt-call key.finger` use."""
    lines = [line for line in pem_path.read_bytes().splitlines(keepends=True) if line.strip()]
    body = b"".join(lines[1:-1]).replace(b"\r\n", b"\n")
    return _colon(hashlib.sha256(body).hexdigest())


def salt_key_finger(pem_path: Path, strip: bool = True) -> str:
    """The form the master shows (`salt-key -f`, wheel key.finger) in Salt 3008: sha256 over the
    whole PEM text as the master keeps it: minion keys stripped (accepting a key by fingerprint
    compares this one), its own key file as it is (`strip=False`)."""
    data = pem_path.read_bytes()
    return _colon(hashlib.sha256(data.strip() if strip else data).hexdigest())


def cmd_finger(path: str) -> None:
    print(finger(Path(path)))


def cmd_gpu_grains(host: str) -> None:
    """Static `gpus` / `num_gpus` grains: the GPUs the host's simulated nvidia-smi shows stand in
    for what Salt's core grains find with lspci on a real GPU node."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "slurm"))
    import slurmtool  # the lab's one way to load the simulated nvidia-smi

    path = Path(slurmtool.HERE.parent / "gpus" / "nvidia-smi")
    loader = slurmtool.importlib.machinery.SourceFileLoader("lab_nvidia_smi", str(path))
    spec = slurmtool.importlib.util.spec_from_loader("lab_nvidia_smi", loader)
    module = slurmtool.importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    gpus = module.build_gpus(host, {}, time.time())
    print("grains:")
    print(f"  num_gpus: {len(gpus)}")
    print("  gpus:" if gpus else "  gpus: []")
    for gpu in gpus:
        print(f"    - {{vendor: nvidia, model: {json.dumps(gpu['name'])}}}")


def cmd_eauth_file(creds: str, out: str) -> None:
    username, password = labtool.read_creds(Path(creds))
    want = f"{username}:{password}\n"
    path = Path(out)
    if path.exists() and path.read_text() == want:
        os.chmod(path, 0o600)
        return
    labtool.write_atomic(path, want, 0o600)


def key_states(salt_key: str, conf_dir: str) -> dict[str, list[str]]:
    proc = subprocess.run([salt_key, "-c", conf_dir, "-L", "--out=json"], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"salt-key -L failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)


KEY_LISTS = ("minions", "minions_pre", "minions_rejected", "minions_denied")


def cmd_missing_keys(salt_key: str, conf_dir: str, *ids: str) -> None:
    """Print the ids the master has no key for, in any state."""
    states = key_states(salt_key, conf_dir)
    known = set().union(*(states.get(k, []) for k in KEY_LISTS))
    for minion in ids:
        if minion not in known:
            print(minion)


def cmd_wait_keys(salt_key: str, conf_dir: str, timeout: str, *ids: str) -> None:
    deadline = time.monotonic() + float(timeout)
    missing = list(ids)
    while True:
        try:
            states = key_states(salt_key, conf_dir)
            known = set().union(*(states.get(k, []) for k in KEY_LISTS))
            missing = [i for i in ids if i not in known]
            if not missing:
                return
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            last = str(exc)
        else:
            last = f"no key yet from {', '.join(missing)}"
        if time.monotonic() > deadline:
            fail(f"minion keys did not reach the master within {timeout}s ({last})")
        time.sleep(0.25)


def cmd_accept(salt_key: str, conf_dir: str, *ids: str) -> None:
    pending = set(key_states(salt_key, conf_dir).get("minions_pre", []))
    for minion in ids:
        if minion in pending:
            # -a is a glob: ids are hostname labels (checked by common.sh), so it matches exactly one.
            subprocess.run([salt_key, "-c", conf_dir, "-y", "-a", minion], check=True, capture_output=True,
                           timeout=60)


def cmd_publish(lab_dir: str) -> None:
    lab = Path(lab_dir)
    sdir = lab / "salt"
    env = os.environ
    master_pub = Path(env["SALT_MASTER_ROOT"]) / "etc/salt/pki/master/master.pub"
    states = key_states(env["SALT_KEY"], str(sdir / "master"))
    state_of = {}
    for state, key in (("accepted", "minions"), ("pending", "minions_pre"), ("rejected", "minions_rejected"),
                       ("denied", "minions_denied")):
        for minion in states.get(key, []):
            state_of[minion] = state
    minions = []
    for line in (sdir / "minions.list").read_text().split():
        name, address = line.split("=", 1)
        mdir = sdir / "minions" / name
        pub = mdir / "root/etc/salt/pki/minion/minion.pub"
        minions.append({"id": name, "host": name, "address": address,
                        "key_fingerprint": salt_key_finger(pub) if pub.exists() else None,
                        "key_fingerprint_pem_body": finger(pub) if pub.exists() else None,
                        "key_state": state_of.get(name, "unknown"), "config_dir": str(mdir),
                        "config_file": str(mdir / "minion")})
    username, _ = labtool.read_creds(sdir / "api" / "credentials")
    api_host, api_port = env["LAB_SALT_API_HOST"], int(env["LAB_SALT_API_PORT"])
    labtool.publish(lab, "salt", {"salt": {
        "api_url": f"https://{api_host}:{api_port}",
        "ca_file": str(sdir / "api" / "tls.crt"),
        "eauth": "file",
        "username": username,
        "credentials_file": str(sdir / "api" / "credentials"),
        "version": env.get("SALT_VERSION", ""),
        "master": {
            "address": env["SALT_MASTER_ADDR"],
            "publish_port": int(env["LAB_SALT_PUBLISH_PORT"]),
            "ret_port": int(env["LAB_SALT_RET_PORT"]),
            "fingerprint": finger(master_pub),                   # master_finger form
            "salt_key_fingerprint": salt_key_finger(master_pub, strip=False),  # `salt-key -F master` form
            "public_key": master_pub.read_text(),
            "hash_type": "sha256",
            "config_dir": str(sdir / "master"),
        },
        "file_roots": [env["LAB_SALT_FILE_ROOTS"]],
        "pillar_roots": [env["LAB_SALT_PILLAR_ROOTS"]],
        "minions": minions,
    }})


COMMANDS = {"missing-keys": cmd_missing_keys, "finger": cmd_finger, "gpu-grains": cmd_gpu_grains, "eauth-file": cmd_eauth_file, "wait-keys": cmd_wait_keys,
            "accept": cmd_accept, "publish": cmd_publish}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
