"""Low-level readers for Slurm's text output: `Key=value` records, times, memory, TRES, GRES.

`scontrol show ... -o` prints one record per line as space-separated `Key=value` pairs, but some
values contain spaces (OS, Reason, JobName, Command...) and users choose some of them (job names,
comments, paths). The record reader therefore starts a new field only at a token whose key Slurm
prints (or, outside free-text values, any CamelCase key a newer version adds), and a key already
seen never starts a new field inside free text: a job named `x UserId=root(0)` cannot override
the real UserId (the record is flagged ambiguous and the real value, printed later, wins).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from .errors import ParseError
from .records import Gres, NodeBaseState, NodeFlag, NodeState, Version

NULLS = {"", "(null)", "N/A", "n/a", "None", "NONE", "Unknown", "UNKNOWN", "n/s"}
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_:/.]*)=(.*)$", re.S)
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def null(value: str | None) -> str:
    """'' for Slurm's spellings of nothing, else the value."""
    return "" if value is None or value.strip() in NULLS else value.strip()


def parse_version(text: str) -> Version:
    """'slurm-wlm 22.05.8', 'slurm 23.11.4', '24.05.0-0rc1' -> Version."""
    match = _VERSION.search(text or "")
    if not match:
        raise ParseError(f"no Slurm version in {text.strip()[:80]!r}")
    return Version(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0), raw=match.group(0))


def parse_time(value: str | None) -> datetime | None:
    value = null(value)
    if not value or value in ("Unknown", "None"):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ParseError(f"bad Slurm time {value!r}") from None


def parse_minutes(value: str | None) -> int | None:
    """Slurm durations -> minutes: 'UNLIMITED' -> None, '30:00' (MM:SS) -> 30, '02:00:00' -> 120,
    '1-00:00:00' -> 1440, '90' (minutes) -> 90. Seconds are rounded up."""
    seconds = parse_seconds(value)
    return None if seconds is None else -(-seconds // 60)


def parse_seconds(value: str | None) -> int | None:
    text = null(value)
    if not text or text.upper() in ("UNLIMITED", "INFINITE", "INVALID", "PARTITION_LIMIT"):
        return None
    days = 0
    if "-" in text:
        day_text, text = text.split("-", 1)
        days = _number(day_text, value)
    parts = [_number(p, value) for p in text.split(":")]
    if len(parts) == 1:
        h, m, s = 0, parts[0], 0
        if days:  # 'D-HH'
            h, m = parts[0], 0
    elif len(parts) == 2:
        h, m, s = (parts[0], parts[1], 0) if days else (0, parts[0], parts[1])
    elif len(parts) == 3:
        h, m, s = parts
    else:
        raise ParseError(f"bad Slurm duration {value!r}")
    return ((days * 24 + h) * 60 + m) * 60 + s


def format_minutes(minutes: int | None) -> str:
    """minutes -> sbatch/sacctmgr time: 90 -> '01:30:00', 1500 -> '1-01:00:00', None -> 'UNLIMITED'."""
    if minutes is None:
        return "UNLIMITED"
    days, rest = divmod(int(minutes), 1440)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


def _number(text: str, whole) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParseError(f"bad Slurm duration {whole!r}") from None


_MEM_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024, "P": 1024 ** 3}


def parse_memory_mb(value: str | None) -> int | None:
    """'100M', '2G', '2000' (MiB), '100Mn'/'4Gc' (older sacct: per node/cpu) -> MiB."""
    text = null(value)
    if not text or text.upper() == "UNLIMITED":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTP]?)[nc]?", text)
    if not match:
        raise ParseError(f"bad Slurm memory size {value!r}")
    return int(round(float(match.group(1)) * _MEM_UNITS.get(match.group(2) or "M", 1)))


def parse_tres(value: str | None) -> dict:
    """'cpu=1,mem=100M,node=1,gres/gpu=2' -> {'cpu': '1', 'mem': '100M', 'node': '1', 'gres/gpu': '2'}."""
    out = {}
    for item in null(value).split(","):
        if "=" in item:
            key, val = item.split("=", 1)
            out[key.strip()] = val.strip()
    return out


def format_tres(tres: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(tres.items()))


def parse_index_list(text: str) -> tuple:
    """'0-1,3' -> (0, 1, 3)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return tuple(out)


_GRES_ITEM = re.compile(r"^(?:gres[:/])?([A-Za-z][\w.-]*)(?::([A-Za-z][\w.-]*))?(?::(\d+)([KMG]?))?(?:\((.*)\))?$")


def parse_gres(value: str | None) -> list:
    """'gpu:2', 'gpu:a100:2(S:0-1),shard:4', 'gpu:2(IDX:0-1)', 'gpu(IDX:0,2)', 'gres:gpu:1' -> [Gres]."""
    text = null(value)
    items, depth, current = [], 0, ""
    for ch in text:  # split at commas outside parentheses: '(S:0-1)' and '(IDX:0,2)' contain some
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        match = _GRES_ITEM.match(item)
        if not match:
            raise ParseError(f"bad GRES {item!r} in {text!r}")
        name, gtype, count, unit, paren = match.groups()
        if gtype and gtype.isdigit():
            gtype, count = None, gtype
        indexes = ()
        if paren and "IDX:" in paren:
            idx = paren.split("IDX:", 1)[1]
            indexes = () if idx.strip() in ("", "N/A") else parse_index_list(idx)
        number = int(count) * {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[unit or ""] if count else \
            (len(indexes) or 1)
        out.append(Gres(name=name, type=gtype, count=number, indexes=indexes))
    return out


def parse_node_state(text: str) -> NodeState:
    """'IDLE', 'MIXED+DRAIN', 'DOWN+NOT_RESPONDING', 'IDLE+CLOUD+POWERED_DOWN', 'down*', 'idle~' -> NodeState."""
    raw = (text or "").strip()
    suffix_flags = {"*": NodeFlag.NOT_RESPONDING, "~": NodeFlag.POWERED_DOWN, "#": NodeFlag.POWERING_UP,
                    "%": NodeFlag.POWERING_DOWN, "!": NodeFlag.POWER_DOWN, "$": NodeFlag.MAINTENANCE,
                    "@": NodeFlag.REBOOT_REQUESTED, "^": NodeFlag.REBOOT_ISSUED, "-": NodeFlag.PLANNED}
    parts = raw.upper().split("+")
    base_text, flags = parts[0], set()
    while base_text and base_text[-1] in suffix_flags:
        flags.add(suffix_flags[base_text[-1]])
        base_text = base_text[:-1]
    aliases = {"ALLOC": "ALLOCATED", "MIX": "MIXED", "DRAINED": "IDLE", "DRAINING": "MIXED", "DRAIN": "IDLE",
               "DRNG": "MIXED", "COMP": "ALLOCATED", "COMPLETING": "ALLOCATED", "MAINT": "IDLE",
               "RESV": "IDLE", "RESERVED": "IDLE", "PLND": "IDLE", "PLANNED": "IDLE", "FAIL": "DOWN",
               "FAILING": "ALLOCATED", "NPC": "IDLE", "INVAL": "DOWN", "POWER_DOWN": "IDLE",
               "POWERED_DOWN": "IDLE", "POWERING_DOWN": "IDLE", "POWERING_UP": "IDLE", "UNK": "UNKNOWN"}
    implied = {"DRAINED": NodeFlag.DRAIN, "DRAINING": NodeFlag.DRAIN, "DRAIN": NodeFlag.DRAIN,
               "DRNG": NodeFlag.DRAIN, "COMP": NodeFlag.COMPLETING, "COMPLETING": NodeFlag.COMPLETING,
               "FAIL": NodeFlag.FAIL, "FAILING": NodeFlag.FAIL, "MAINT": NodeFlag.MAINTENANCE,
               "RESV": NodeFlag.RESERVED, "RESERVED": NodeFlag.RESERVED, "PLND": NodeFlag.PLANNED,
               "INVAL": NodeFlag.INVALID_REG, "POWERED_DOWN": NodeFlag.POWERED_DOWN,
               "POWERING_DOWN": NodeFlag.POWERING_DOWN, "POWERING_UP": NodeFlag.POWERING_UP,
               "POWER_DOWN": NodeFlag.POWER_DOWN}
    if base_text in implied:
        flags.add(implied[base_text])
    try:
        base = NodeBaseState(aliases.get(base_text, base_text))
    except ValueError:
        base = NodeBaseState.UNKNOWN
    for flag in parts[1:]:
        flag = flag.strip()
        try:
            flags.add(NodeFlag(flag))
        except ValueError:
            if flag:
                flags.add(flag)
    return NodeState(base=base, flags=frozenset(flags), raw=raw)


# -- Key=value records --------------------------------------------------------------------------

@dataclass
class Record:
    values: dict = field(default_factory=dict)  # first occurrence... replaced by later real ones
    details: list = field(default_factory=list)  # job -d per-node blocks: [{'Nodes':..., 'GRES':...}]
    ambiguous: bool = False

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)


@dataclass(frozen=True)
class RecordSpec:
    known: frozenset  # keys Slurm prints in this record (all supported versions)
    free_text: frozenset = frozenset()  # values that may contain spaces and user text
    detail_keys: frozenset = frozenset()  # repeat per node after one of detail_starts
    detail_starts: frozenset = frozenset()
    tail_marker_keys: frozenset = frozenset()  # value ends with '[user@time]' (node Reason)


_REASON_TAIL = re.compile(r"\[[^\]\s]*@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\]$")


def parse_record(line: str, spec: RecordSpec) -> Record:
    record = _parse_record(line, spec, use_tail_marker=bool(spec.tail_marker_keys))
    if any(k in record.values and not _REASON_TAIL.search(record.values[k]) for k in spec.tail_marker_keys):
        record = _parse_record(line, spec, use_tail_marker=False)  # a reason set without user/time
    return record


def _parse_record(line: str, spec: RecordSpec, use_tail_marker: bool) -> Record:
    record = Record()
    values, known, free_text, detail_keys = record.values, spec.known, spec.free_text, spec.detail_keys
    detail_or_start = spec.detail_keys | spec.detail_starts
    key, value_parts, in_detail = None, [], False
    seen: set = set()

    def flush():
        value = " ".join(value_parts).strip() if len(value_parts) > 1 else value_parts[0]
        if in_detail and key in detail_keys:
            if key == "Nodes" or not record.details:
                record.details.append({})
            record.details[-1][key] = value
        else:
            if key in values:
                record.ambiguous = True
            values[key] = value

    for token in line.strip().split(" "):
        eq = token.find("=")
        starts = False
        if eq > 0:
            k = token[:eq]
            if k not in known and not _KEY.match(token):
                pass  # not a key at all, e.g. '(x)=y'
            elif use_tail_marker and key in spec.tail_marker_keys and \
                    not _REASON_TAIL.search(" ".join(value_parts)):
                pass  # a node Reason runs until its '[user@time]'
            elif k in detail_keys:
                starts = in_detail and key in detail_or_start
            elif key in free_text:
                starts = k in known and k not in seen
            else:
                starts = k in known or k[0].isupper()
        if starts:
            if key is not None:
                flush()
            key, value_parts = k, [token[eq + 1:]]
            if key in spec.detail_starts:
                if key in seen:
                    record.details.clear()  # a second start: the first one was inside user text
                in_detail = True
            elif key not in detail_keys:
                in_detail = False
            seen.add(key)
        elif key is None:
            if token:
                raise ParseError(f"expected Key=value, got {token[:60]!r}")
        else:
            value_parts.append(token)
    if key is not None:
        flush()
    return record


def parse_show_lines(text: str, spec: RecordSpec, first_key: str) -> list:
    """One Record per non-empty line that starts with `first_key=`."""
    out = []
    for line in (text or "").splitlines():
        if line.strip().startswith(first_key + "="):
            out.append(parse_record(line, spec))
        elif line.strip() and not line.startswith(("No ", "Node ", "slurm_load")):
            raise ParseError(f"unexpected line (wanted {first_key}=...): {line.strip()[:80]!r}")
    return out


def split_list(value: str | None, sep: str = ",") -> list:
    text = null(value)
    return [v.strip() for v in text.split(sep) if v.strip()] if text else []


def to_int(value: str | None, default: int | None = 0) -> int | None:
    text = null(value)
    if not text or text.upper() == "UNLIMITED":
        return default
    try:
        return int(text.split("(")[0])
    except ValueError:
        raise ParseError(f"expected a number, got {value!r}") from None


def to_float(value: str | None) -> float | None:
    text = null(value)
    try:
        return float(text) if text else None
    except ValueError:
        return None
