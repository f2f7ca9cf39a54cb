"""What a facts probe runs on a node (argv lists, read-only commands) and how it is parsed."""
from __future__ import annotations

import json

COMMANDS = {
    "hostname": ["hostname"],
    "uname": ["uname", "-srm"],
    "os_release": ["cat", "/etc/os-release"],
    "cpuinfo": ["lscpu", "-J"],
    "meminfo": ["cat", "/proc/meminfo"],
    "disks": ["lsblk", "-J", "-b", "-d", "-o", "NAME,SIZE,TYPE,MODEL"],
    "nics": ["ip", "-j", "addr"],
    "gpus": ["nvidia-smi", "--query-gpu=index,name,memory.total,uuid", "--format=csv,noheader,nounits"],
}


def parse(outputs: dict[str, str]) -> dict:
    """Turn raw command outputs (missing ones absent) into the node's facts."""
    facts: dict = {}
    if "hostname" in outputs:
        facts["hostname"] = outputs["hostname"].strip()
    if "uname" in outputs:
        parts = outputs["uname"].split()
        facts["kernel"] = " ".join(parts[:2]) if parts else ""
        facts["arch"] = parts[2] if len(parts) > 2 else ""
    if "os_release" in outputs:
        release = dict(line.split("=", 1) for line in outputs["os_release"].splitlines() if "=" in line)
        facts["os"] = release.get("PRETTY_NAME", "").strip('"')
    if "cpuinfo" in outputs:
        facts.update(_cpu(outputs["cpuinfo"]))
    if "meminfo" in outputs:
        for line in outputs["meminfo"].splitlines():
            if line.startswith("MemTotal:"):
                facts["memory_bytes"] = int(line.split()[1]) * 1024
    if "disks" in outputs:
        facts["disks"] = [{"name": d.get("name"), "size_bytes": int(d.get("size") or 0), "model": (d.get("model") or "").strip()}
                          for d in _json(outputs["disks"]).get("blockdevices", []) if d.get("type") == "disk"]
    if "nics" in outputs:
        facts["nics"] = [{"name": n.get("ifname"), "mac": n.get("address"),
                          "addresses": [a.get("local") for a in n.get("addr_info", [])]}
                         for n in _json(outputs["nics"], default=[]) if n.get("ifname") != "lo"]
    if "gpus" in outputs:
        facts["gpus"] = [dict(zip(("index", "name", "memory_mib", "uuid"), (c.strip() for c in line.split(","))))
                         for line in outputs["gpus"].splitlines() if line.count(",") >= 3]
    facts["gpu_count"] = len(facts.get("gpus", []))
    return facts


def _cpu(text: str) -> dict:
    fields = {item.get("field", "").rstrip(":"): item.get("data") for item in _json(text).get("lscpu", [])}
    def number(key):
        try:
            return int(fields.get(key) or 0)
        except ValueError:
            return 0
    sockets, cores, threads = number("Socket(s)"), number("Core(s) per socket"), number("Thread(s) per core")
    return {"cpu_model": fields.get("Model name", ""), "cpu_sockets": sockets,
            "cpu_cores": sockets * cores, "cpu_threads": number("CPU(s)") or sockets * cores * threads}


def _json(text: str, default=None):
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return default if default is not None else {}
