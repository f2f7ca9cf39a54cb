"""The one client-address function: forwarding headers count only from trusted proxies."""
import pytest
from django.test import override_settings

from aimatrix.env import env_networks
from apps.core.request_context import client_ip, parse_address

PROXY = "10.0.0.5"
TRUSTED = override_settings(TRUSTED_PROXIES=["10.0.0.5/32", "192.168.7.0/24", "fd00::/64"])


def meta(remote=PROXY, xff=None, real_ip=None):
    values = {"REMOTE_ADDR": remote}
    if xff is not None:
        values["HTTP_X_FORWARDED_FOR"] = xff
    if real_ip is not None:
        values["HTTP_X_REAL_IP"] = real_ip
    return values


@override_settings(TRUSTED_PROXIES=[])
def test_without_trusted_proxies_the_headers_are_ignored():
    assert client_ip(meta("203.0.113.9", xff="198.51.100.1", real_ip="198.51.100.2")) == "203.0.113.9"


@TRUSTED
def test_an_untrusted_peer_cannot_claim_another_address():
    assert client_ip(meta("203.0.113.9", xff="10.0.0.5, 198.51.100.1", real_ip="198.51.100.2")) == "203.0.113.9"


@TRUSTED
def test_a_trusted_proxy_names_the_client():
    assert client_ip(meta(xff="198.51.100.1")) == "198.51.100.1"
    assert client_ip(meta(real_ip="198.51.100.2")) == "198.51.100.2"
    # Both present (nginx sends both): the chain wins.
    assert client_ip(meta(xff="198.51.100.1", real_ip="198.51.100.2")) == "198.51.100.1"


@TRUSTED
def test_the_right_most_untrusted_hop_wins_over_what_the_client_wrote():
    # The client sent "1.1.1.1, 10.0.0.5"; our proxies appended the real hops.
    assert client_ip(meta(xff="1.1.1.1, 10.0.0.5, 198.51.100.1, 192.168.7.20")) == "198.51.100.1"
    assert client_ip(meta(xff="1.1.1.1,198.51.100.1")) == "198.51.100.1"


@TRUSTED
def test_a_chain_of_trusted_proxies_only_returns_the_left_most():
    assert client_ip(meta(xff="192.168.7.3, 192.168.7.4")) == "192.168.7.3"


@TRUSTED
@pytest.mark.parametrize("xff, expected", [
    ("unknown", PROXY),
    ("", PROXY),
    ("not an address, 198.51.100.1", "198.51.100.1"),
    ("198.51.100.1, garbage", PROXY),
    ("198.51.100.1, garbage, 192.168.7.3", "192.168.7.3"),
    ("example.com", PROXY),
    ("198.51.100.1:5120", "198.51.100.1"),
    ("[2001:db8::7]:443", "2001:db8::7"),
    ("::ffff:198.51.100.1", "198.51.100.1"),
    ("\x00\x01, 300.1.2.3", PROXY),
])
def test_garbage_stops_the_walk(xff, expected):
    assert client_ip(meta(xff=xff)) == expected


@TRUSTED
def test_ipv6_proxies_and_mapped_peers():
    assert client_ip(meta("fd00::3", xff="2001:db8::9")) == "2001:db8::9"
    assert client_ip(meta("::ffff:10.0.0.5", xff="198.51.100.1")) == "198.51.100.1"


@TRUSTED
def test_a_long_header_is_bounded():
    assert client_ip(meta(xff=", ".join(["192.168.7.9"] * 10_000 + ["198.51.100.1"]))) == "198.51.100.1"


def test_no_or_bad_peer_gives_no_address():
    assert client_ip({}) is None
    assert client_ip({"REMOTE_ADDR": "not-an-ip"}) is None


def test_parse_address():
    assert str(parse_address(" 203.0.113.7 ")) == "203.0.113.7"
    assert parse_address(None) is None and parse_address("[]") is None


def test_trusted_proxies_setting_is_validated(monkeypatch):
    monkeypatch.setenv("AIMATRIX_TRUSTED_PROXIES", "10.0.0.5, 172.30.57.0/24,fd00::1")
    assert env_networks("AIMATRIX_TRUSTED_PROXIES") == ["10.0.0.5/32", "172.30.57.0/24", "fd00::1/128"]
    monkeypatch.setenv("AIMATRIX_TRUSTED_PROXIES", "10.0.0.5,nginx")
    with pytest.raises(ValueError, match="AIMATRIX_TRUSTED_PROXIES: 'nginx'"):
        env_networks("AIMATRIX_TRUSTED_PROXIES")
