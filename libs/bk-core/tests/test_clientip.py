"""The client IP: only the entries our own proxies wrote are believed (pure, no I/O)."""

from __future__ import annotations

import ipaddress

from bkcore.clientip import TrustedProxies, client_ip, ip_limit_key, scope_client_ip

NONE = TrustedProxies()
ONE_HOP = TrustedProxies(hops=1)
TWO_HOPS = TrustedProxies(hops=2)
CLUSTER = TrustedProxies(networks=(ipaddress.ip_network("10.0.0.0/8"),))


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_ip("203.0.113.7", ["1.2.3.4"], NONE) == "203.0.113.7"


def test_attack_rotating_the_leftmost_entry_changes_nothing() -> None:
    """An attacker behind one ingress writes a fresh X-Forwarded-For each time: the ingress appends
    the address it saw, and that last entry is the one we take."""
    seen = {client_ip("10.0.0.5", [f"198.51.100.{i}, 203.0.113.7"], ONE_HOP) for i in range(50)}
    assert seen == {"203.0.113.7"}
    seen = {client_ip("10.0.0.5", [f"198.51.100.{i}, 203.0.113.7, 10.0.0.9"], TWO_HOPS) for i in range(50)}
    assert seen == {"203.0.113.7"}


def test_hops_and_short_chains() -> None:
    assert client_ip("10.0.0.5", ["203.0.113.7"], ONE_HOP) == "203.0.113.7"
    assert client_ip("10.0.0.5", [], ONE_HOP) == "10.0.0.5"
    assert client_ip("10.0.0.5", ["203.0.113.7"], TWO_HOPS) == "203.0.113.7"  # only our proxies wrote it
    assert client_ip("10.0.0.5", ["a, b", "203.0.113.7"], ONE_HOP) == "203.0.113.7"  # two header lines


def test_cidrs_walk_right_to_left_and_need_a_trusted_peer() -> None:
    assert client_ip("10.1.2.3", ["6.6.6.6, 203.0.113.7, 10.9.9.9"], CLUSTER) == "203.0.113.7"
    # A peer outside the proxies' networks wrote the header itself: ignored.
    assert client_ip("198.51.100.1", ["10.1.1.1"], CLUSTER) == "198.51.100.1"
    assert client_ip("10.1.2.3", ["10.2.2.2"], CLUSTER) == "10.2.2.2"  # all ours: the furthest one


def test_spellings_of_one_address_are_one_client() -> None:
    assert client_ip("10.0.0.5", ["::ffff:203.0.113.7"], ONE_HOP) == "203.0.113.7"
    assert client_ip("10.0.0.5", ["203.0.113.7:51234"], ONE_HOP) == "203.0.113.7"
    assert client_ip("10.0.0.5", ["x" * 500], ONE_HOP) == "x" * 64


def test_ipv6_is_limited_per_64() -> None:
    a, b = "2001:db8:1:2:aaaa::1", "2001:db8:1:2:ffff::9"
    assert ip_limit_key(a) == ip_limit_key(b) == "2001:db8:1:2::/64"
    assert ip_limit_key("2001:db8:1:3::1") != ip_limit_key(a)
    assert ip_limit_key("203.0.113.7") == "203.0.113.7"


def test_asgi_scope() -> None:
    scope = {"client": ("10.0.0.5", 4000), "headers": [(b"x-forwarded-for", b"1.1.1.1, 203.0.113.7")]}
    assert scope_client_ip(scope, ONE_HOP) == "203.0.113.7"
    assert scope_client_ip({"headers": []}, NONE) == "unknown"
