"""Readable data on pages: times, sizes, a node's hardware, audit diffs, parameters.

Every value here may come from a user or a probed machine, so markup is built with
format_html/format_html_join (which escape) and never with |safe on the value.
"""
from __future__ import annotations

import json
from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"
SIZE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
EMPTY = "—"


# --- times -----------------------------------------------------------------

def relative(value: datetime, now: datetime | None = None) -> str:
    """'3 min ago' / 'in 2 h': the largest unit, rounded down."""
    seconds = int(((now or timezone.now()) - value).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds // size} {unit}"
            break
    else:
        return "just now" if seconds < 10 else ("in a few s" if future else f"{seconds} s ago")
    return f"in {amount}" if future else f"{amount} ago"


@register.filter(is_safe=False)
def when(value, empty: str = EMPTY):
    """`{{ dt|when }}` -> <time datetime=ISO title=ISO>2026-11-30 05:39:31 UTC</time> (3 min ago)."""
    if not value:
        return empty
    if not isinstance(value, datetime):
        if isinstance(value, date):
            return format_html('<time datetime="{}">{}</time>', value.isoformat(), value.isoformat())
        return value
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    local = timezone.localtime(value)
    return format_html('<time datetime="{}" title="{}">{}</time> <span class="muted when-hint">({})</span>',
                       local.isoformat(), local.isoformat(), local.strftime(TIME_FORMAT), relative(value))


def span(seconds: float) -> str:
    """A length of time in its two largest units: '2 h 5 min', '1 min 3 s', '0.4 s'."""
    if round(seconds, 1) < 10:
        return f"{seconds:.1f} s"
    seconds = int(seconds)
    amounts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        amounts.append((seconds // size, unit))
        seconds %= size
    first = next(i for i, (amount, _) in enumerate(amounts) if amount)
    shown = [a for a in amounts[first:first + 2] if a[0]]
    return " ".join(f"{amount} {unit}" for amount, unit in shown)


@register.filter
def duration(start, end=None):
    """`{{ job.started_at|duration:job.finished_at }}`; without an end, the time so far."""
    if not isinstance(start, datetime):
        return EMPTY
    if isinstance(end, datetime):
        return span(max((end - start).total_seconds(), 0))
    return f"{span(max((timezone.now() - start).total_seconds(), 0))} so far"


# --- sizes -----------------------------------------------------------------

@register.filter
def size(value, unit: str = "B") -> str:
    """Bytes (or `unit`: KiB, MiB, GiB) as the largest binary unit that keeps the number >= 1."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return EMPTY if value in (None, "") else str(value)
    index = SIZE_UNITS.index(unit) if unit in SIZE_UNITS else 0
    while abs(amount) >= 1024 and index < len(SIZE_UNITS) - 1:
        amount /= 1024
        index += 1
    text = f"{amount:.0f}" if index == 0 or amount == int(amount) else f"{amount:.1f}"
    return f"{text} {SIZE_UNITS[index]}"


# --- node hardware ---------------------------------------------------------

def _cpu_line(facts: dict) -> str:
    model = facts.get("cpu_model") or "unknown CPU"
    counts = [f"{facts[k]} {label}" for k, label in
              (("cpu_sockets", "sockets"), ("cpu_cores", "cores"), ("cpu_threads", "threads")) if facts.get(k)]
    return f"{model} × {' / '.join(counts)}" if counts else model


def _disk_line(disk: dict) -> str:
    model = f" ({disk['model']})" if disk.get("model") else ""
    return f"{disk.get('name') or '?'}: {size(disk.get('size_bytes'))}{model}"


def _nic_line(nic: dict) -> str:
    addresses = ", ".join(a for a in nic.get("addresses") or [] if a) or "no address"
    mac = f" [{nic['mac']}]" if nic.get("mac") else ""
    return f"{nic.get('name') or '?'}{mac}: {addresses}"


def _gpu_line(gpu: dict) -> str:
    memory = f", {size(gpu['memory_mib'], 'MiB')}" if gpu.get("memory_mib") not in (None, "") else ""
    return f"#{gpu.get('index', '?')} {gpu.get('name') or 'GPU'}{memory}"


def _items(values, line) -> SafeString | str:
    rows = [line(v) for v in values or [] if isinstance(v, dict)]
    if not rows:
        return EMPTY
    return format_html('<ul class="plain">{}</ul>', format_html_join("", "<li>{}</li>", ((r,) for r in rows)))


@register.filter
def hardware_summary(facts):
    """A node's probed facts as a summary: system, CPU, memory, disks, NICs, GPUs."""
    if not isinstance(facts, dict) or not facts:
        return format_html('<p class="muted">{}</p>', "Not probed yet.")
    system = " · ".join(str(facts[k]) for k in ("hostname", "os", "kernel", "arch") if facts.get(k)) or EMPTY
    rows = [
        ("System", system),
        ("CPU", _cpu_line(facts) if any(k.startswith("cpu_") for k in facts) else EMPTY),
        ("Memory", size(facts["memory_bytes"]) if facts.get("memory_bytes") else EMPTY),
        ("Disks", _items(facts.get("disks"), _disk_line)),
        ("NICs", _items(facts.get("nics"), _nic_line)),
        ("GPUs", _items(facts.get("gpus"), _gpu_line)),
    ]
    return format_html('<dl class="meta hardware" id="hardware-summary">{}</dl>',
                       format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))


@register.filter
def hardware_brief(facts) -> str:
    """One line for a list row: '2×AMD EPYC 7763 · 512 GiB · 8 GPU'."""
    if not isinstance(facts, dict) or not facts:
        return EMPTY
    parts = []
    if facts.get("cpu_model"):
        sockets = facts.get("cpu_sockets") or 0
        parts.append(f"{sockets}×{facts['cpu_model']}" if sockets > 1 else str(facts["cpu_model"]))
    if facts.get("memory_bytes"):
        parts.append(size(facts["memory_bytes"]))
    if facts.get("gpu_count"):
        parts.append(f"{facts['gpu_count']} GPU")
    return " · ".join(parts) or EMPTY


# --- audit diffs and parameters --------------------------------------------

def _show(value) -> str:
    """A value as short text: scalars as they are, lists joined, anything else as compact JSON."""
    if value is None:
        return EMPTY
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


@register.filter
def audit_diff(changes):
    """AuditEvent.changes ({"before": {...}, "after": {...}}) as a table of the keys that changed."""
    if not isinstance(changes, dict) or not changes:
        return ""
    before = changes.get("before") if isinstance(changes.get("before"), dict) else {}
    after = changes.get("after") if isinstance(changes.get("after"), dict) else {}
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k, _MISSING) != after.get(k, _MISSING)]
    if not keys:
        return format_html('<span class="muted">{}</span>', "no field changed")
    rows = ((k, _cell(before, k), _cell(after, k)) for k in keys)
    return format_html(
        '<table class="diff"><thead><tr><th>Field</th><th>Before</th><th>After</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        format_html_join("", '<tr><th scope="row">{}</th><td class="old">{}</td><td class="new">{}</td></tr>', rows))


_MISSING = object()


def _cell(values: dict, key) -> str:
    return _show(values[key]) if key in values else EMPTY


@register.filter
def definition_list(params):
    """A dict (job parameters) as <dl>: one term per key, nested lists/dicts shown compactly."""
    if not isinstance(params, dict) or not params:
        return format_html('<span class="muted">{}</span>', "none")
    return format_html('<dl class="params">{}</dl>',
                       format_html_join("", "<dt>{}</dt><dd>{}</dd>", ((k, _show(v)) for k, v in params.items())))
