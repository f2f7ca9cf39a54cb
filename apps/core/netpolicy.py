"""Where the portal may send traffic: managed networks, and the addresses that are never targets.

Nodes, BMCs and clusters live in the networks of `MANAGED_NETWORKS` (CIDRs). Loopback,
link-local, unspecified and multicast addresses are refused unless a managed network made of
them is listed (e.g. `127.0.0.1/32` for a lab whose BMC emulators run on this machine); the
portal's own interface addresses are refused unless listed as single hosts (/32, /128), since
a broad private range containing them is no deliberate choice. Checked at registration on what
the address resolves to, and again at connect time on the resolved address that is then used.

Plain values in and out; the only Django import is settings.
"""
from __future__ import annotations

import concurrent.futures
import fcntl
import functools
import ipaddress
import os
import socket
import struct
import time
from pathlib import Path

from django.conf import settings

from .ipnet import IPAddress, IPNetwork, containing, parse_network, unmapped


_SPECIAL = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10",
                                                 "0.0.0.0/8", "::/128", "224.0.0.0/4", "ff00::/8")]
_OWN_CACHE: tuple[float, frozenset] = (0.0, frozenset())
RESOLVE_TIMEOUT = 3.0


@functools.cache
def _resolver() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="resolve")


os.register_at_fork(after_in_child=_resolver.cache_clear)  # a forked worker makes its own threads


class AddressRefused(ValueError):
    """An address the portal will not send traffic (or a secret) to; the message says why."""


class Unresolvable(AddressRefused):
    """A host name that does not resolve (or not within RESOLVE_TIMEOUT)."""


def managed_networks() -> list[IPNetwork]:
    """The configured networks, plus those listed in MANAGED_NETWORKS_DIR/*.txt (the local lab
    publishes its own there while it is up, so running processes see it without a restart)."""
    entries = list(getattr(settings, "MANAGED_NETWORKS", []))
    extra_dir = getattr(settings, "MANAGED_NETWORKS_DIR", None)
    for path in sorted(Path(extra_dir).glob("*.txt")) if extra_dir else []:
        try:
            entries += [w for line in path.read_text().splitlines() for w in line.split("#")[0].split()]
        except OSError:
            continue
    networks = []
    for entry in entries:
        try:
            networks.append(parse_network(entry))
        except ValueError:
            continue  # the setting is checked at start-up; a bad line in a file widens nothing
    return networks


def own_addresses() -> frozenset:
    """This machine's interface addresses (cached for a minute)."""
    global _OWN_CACHE
    stamp, cached = _OWN_CACHE
    if time.monotonic() - stamp < 60:
        return cached
    found: set[IPAddress] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex() if hasattr(socket, "if_nameindex") else []:
            try:
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
                found.add(ipaddress.ip_address(packed[20:24]))
            except OSError:
                continue
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            found.add(ipaddress.ip_address(bytes.fromhex(line.split()[0])))
    except (OSError, ValueError, IndexError):
        pass
    for extra in getattr(settings, "PORTAL_ADDRESSES", []):
        try:
            found.add(ipaddress.ip_address(extra))
        except ValueError:
            continue
    _OWN_CACHE = (time.monotonic(), frozenset(found))
    return _OWN_CACHE[1]


def refusal(ip: IPAddress, networks: list[IPNetwork] | None = None) -> str | None:
    """Why the portal may not send traffic to `ip`, or None when it may."""
    ip = unmapped(ip)
    networks = managed_networks() if networks is None else networks
    inside = containing(ip, networks)
    if not inside:
        listed = ", ".join(str(n) for n in networks) or "none configured"
        return f"{ip} is outside the managed networks ({listed})"
    special = next(iter(containing(ip, _SPECIAL)), None)
    if special is not None and not any(n.subnet_of(special) for n in inside):
        return f"{ip} is a loopback, link-local or otherwise special address; list it in the managed networks to allow it"
    if ip in own_addresses() and not any(n.num_addresses == 1 for n in inside):
        return f"{ip} is an address of the portal itself; list it as a single host to allow it"
    return None


def resolve(host: str, port: int | None = None) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal is itself). Raises Unresolvable."""
    try:
        return [unmapped(ipaddress.ip_address(host))]
    except ValueError:
        pass
    # getaddrinfo has no deadline of its own: wait for it in a small pool, at most RESOLVE_TIMEOUT.
    future = _resolver().submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=RESOLVE_TIMEOUT)
    except concurrent.futures.TimeoutError:
        raise Unresolvable(f"{host} did not resolve within {RESOLVE_TIMEOUT:g} s") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve ({getattr(exc, 'strerror', None) or exc})") from None
    ordered = []
    for info in infos:
        ip = unmapped(ipaddress.ip_address(info[4][0].split("%")[0]))
        if ip not in ordered:
            ordered.append(ip)
    return ordered


def check_host(host: str, port: int | None = None) -> list[IPAddress]:
    """Resolve `host` and refuse it unless every address it resolves to is allowed; returns the
    addresses (connect to the first one, so what was checked is what is reached)."""
    addresses = resolve(host, port)
    networks = managed_networks()
    for ip in addresses:
        reason = refusal(ip, networks)
        if reason:
            shown = host if str(ip) == host else f"{host} ({ip})"
            raise AddressRefused(f"{shown}: {reason}")
    return addresses


def check_registration(host: str) -> None:
    """At registration: an IP literal must be allowed; a name is checked on what it resolves
    to now. A name that does not resolve yet is accepted here and checked at connect time."""
    try:
        check_host(host)
    except Unresolvable:
        return  # (an IP literal always "resolves" to itself, so only names land here)
