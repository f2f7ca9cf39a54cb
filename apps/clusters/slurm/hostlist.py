"""Slurm host lists: `lab-node[1-3,10]`, `gpu[01-04]`, `a[1-2]-b[1-2]`, comma-joined, both ways.

Exact names matter: `lab-node1` is never `lab-node10` (a substring match once removed both).
"""
from __future__ import annotations

import itertools
import re

from .errors import ParseError

MAX_HOSTS = 65536  # a list that expands further is refused (`node[1-999999999]` would eat memory)
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
            if depth > 1:
                raise ParseError(f"nested brackets in host list {text!r}")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ParseError(f"unbalanced ']' in host list {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise ParseError(f"unclosed '[' in host list {text!r}")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _bracket_values(body: str, whole: str) -> list[str]:
    values = []
    for item in body.split(","):
        match = _RANGE.match(item.strip())
        if not match:
            raise ParseError(f"bad range {item!r} in host list {whole!r}")
        start, end = match.group(1), match.group(2)
        if end is None:
            values.append(start)
            continue
        lo, hi = int(start), int(end)
        if hi < lo:
            raise ParseError(f"descending range {item!r} in host list {whole!r}")
        if hi - lo >= MAX_HOSTS:
            raise ParseError(f"range {item!r} in host list {whole!r} has more than {MAX_HOSTS} hosts")
        width = len(start)
        values.extend(str(n).zfill(width) for n in range(lo, hi + 1))
    return values


def _expand_one(pattern: str) -> list[str]:
    pieces = re.split(r"(\[[^\]]*\])", pattern)
    choices = [_bracket_values(p[1:-1], pattern) if p.startswith("[") else [p] for p in pieces if p != ""]
    return ["".join(combo) for combo in itertools.product(*choices)]


def expand(hostlist: str | None) -> list[str]:
    """'lab-node[1-3,10],login' -> ['lab-node1', 'lab-node2', 'lab-node3', 'lab-node10', 'login'].
    Order is kept, duplicates dropped; '' and '(null)' give []."""
    text = (hostlist or "").strip()
    if text in ("", "(null)", "None"):
        return []
    seen: dict[str, None] = {}
    for part in _split_top(text):
        for host in _expand_one(part):
            seen.setdefault(host, None)
            if len(seen) > MAX_HOSTS:
                raise ParseError(f"host list {text[:80]!r} has more than {MAX_HOSTS} hosts")
    return list(seen)


def _sort_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def compress(hosts) -> str:
    """['lab-node1', 'lab-node2', 'lab-node10', 'login'] -> 'lab-node[1-2,10],login' (sorted naturally,
    zero padding kept: gpu01..gpu03 -> 'gpu[01-03]')."""
    groups: dict[tuple[str, str], list[str]] = {}
    plain: list[str] = []
    for host in dict.fromkeys(h.strip() for h in hosts if h and h.strip()):
        match = _NUMBERED.match(host)
        if match:
            groups.setdefault((match.group(1), match.group(3)), []).append(match.group(2))
        else:
            plain.append(host)
    out = [(h, h) for h in plain]
    for (prefix, suffix), numbers in groups.items():
        numbers.sort(key=lambda d: (int(d), len(d)))
        ranges: list[list] = []  # [first_digits, last_int, width]
        for digits in numbers:
            n = int(digits)
            if ranges:
                first, last, width = ranges[-1]
                if n == last + 1 and digits == str(n).zfill(width):
                    ranges[-1][1] = n
                    continue
            ranges.append([digits, n, len(digits) if digits.startswith("0") and len(digits) > 1 else 1])
        parts = [first if int(first) == last else f"{first}-{str(last).zfill(width)}" for first, last, width in ranges]
        text = f"{prefix}{parts[0]}{suffix}" if len(parts) == 1 and "-" not in parts[0] else \
            f"{prefix}[{','.join(parts)}]{suffix}"
        out.append((prefix + numbers[0] + suffix, text))
    return ",".join(text for _, text in sorted(out, key=lambda pair: _sort_key(pair[0])))
