"""Address helpers shared by the client-address rules (request_context) and the managed-network
policy (netpolicy): one notion of an address, of IPv4-mapped IPv6, and of "inside one of these"."""
from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def unmapped(ip: IPAddress) -> IPAddress:
    """::ffff:10.0.0.1 is 10.0.0.1: a rule about IPv4 networks must not be bypassed through IPv6."""
    return getattr(ip, "ipv4_mapped", None) or ip


def parse_network(text: str) -> IPNetwork:
    return ipaddress.ip_network(text.strip(), strict=False)


def containing(ip: IPAddress, networks) -> list[IPNetwork]:
    """The networks that hold `ip` (comparing an IPv4 address with an IPv6 network is no match)."""
    return [net for net in networks if net.version == ip.version and ip in net]
