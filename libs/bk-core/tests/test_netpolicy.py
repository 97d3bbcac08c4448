"""The address policy for URLs the platform fetches on someone's behalf (camera sources, webhooks):
pure rules over addresses, and resolution through an injected resolver (no network)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bkcore.netpolicy import REFUSED, AddressPolicy, AddressRefused, parse_networks, system_resolver

STRICT = AddressPolicy()  # production's default
EMBEDDED = AddressPolicy(allow_internal=True)


def fixed(answers: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in answers:
            raise OSError(f"no such host {host}")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",  # loopback
        "169.254.1.2",
        "fe80::1",  # link-local
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.10",  # RFC 1918
        "100.64.0.1",
        "100.127.255.254",  # carrier-grade NAT
        "fd12:3456::1",
        "fc00::1",  # unique-local
        "192.0.2.1",
        "198.18.0.1",  # documentation, benchmarking: not globally routable
    ],
)
def test_internal_addresses_refused_in_production_allowed_embedded(address: str) -> None:
    assert STRICT.address_refusal(address) is not None
    assert EMBEDDED.address_refusal(address) is None


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "100.100.100.200",
        "169.254.170.2",
        "169.254.0.23",  # metadata
        "0.0.0.0",
        "::",  # unspecified
        "224.0.0.1",
        "239.1.2.3",
        "ff02::1",  # multicast
        "255.255.255.255",
        "240.0.0.1",  # broadcast, reserved
    ],
)
def test_never_reachable_whatever_the_settings(address: str) -> None:
    anything = AddressPolicy(allow_internal=True, allowed_networks=parse_networks("0.0.0.0/0,::/0", "x"))
    assert anything.address_refusal(address) is not None


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    ],
)
def test_ipv4_inside_ipv6_is_judged_as_the_ipv4(address: str) -> None:
    assert STRICT.address_refusal(address) is not None


def test_public_addresses_pass() -> None:
    for address in ("8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"):
        assert STRICT.address_refusal(address) is None, address


def test_a_site_camera_network_can_be_allowed_but_not_the_cluster_inside_it() -> None:
    policy = AddressPolicy.build(
        allow_internal=False,
        allowed_networks="192.168.10.0/24,10.0.0.0/8",
        cluster_networks="10.96.0.0/12,10.244.0.0/16",
    )
    assert policy.address_refusal("192.168.10.64") is None
    assert policy.address_refusal("192.168.11.64") is not None  # the next subnet is not the site's
    assert policy.address_refusal("10.1.2.3") is None
    assert "cluster" in (policy.address_refusal("10.96.0.1") or "")  # the Kubernetes API's address
    assert "cluster" in (policy.address_refusal("10.244.3.7") or "")  # a pod
    assert policy.address_refusal("127.0.0.1") is not None  # loopback is not in any allowed network


def test_cluster_and_metadata_names_refused_before_resolution() -> None:
    for host in (
        "postgres.db.svc",
        "kafka.kafka.svc.cluster.local",
        "api.cluster.local",
        "metadata.google.internal",
        "METADATA.google.internal.",
        "metadata.tencentyun.com",
    ):
        assert EMBEDDED.name_refusal(host) is not None, host
    assert EMBEDDED.name_refusal("ｋａｆｋａ.ｓｖｃ") is not None  # full-width: the resolver's kafka.svc
    assert STRICT.name_refusal("cam.example.com") is None


def test_resolution_checks_every_address_and_pins_the_first() -> None:
    resolve = fixed(
        {
            "cam.example": ["203.0.113.5"],
            "public.example": ["8.8.4.4", "8.8.8.8"],
            "mixed.example": ["8.8.8.8", "127.0.0.1"],
            "local.example": ["127.0.0.1"],
        }
    )
    assert STRICT.resolve("public.example", 554, resolve) == "8.8.4.4"
    for host in ("mixed.example", "local.example", "cam.example", "nowhere.example"):
        with pytest.raises(AddressRefused) as refused:
            STRICT.resolve(host, 554, resolve)
        assert refused.value.public == REFUSED  # one sentence, whatever the cause
        assert host in refused.value.cause  # the cause is for the log
    assert EMBEDDED.resolve("local.example", 554, resolve) == "127.0.0.1"


def test_dns_rebinding_is_caught_at_each_resolution() -> None:
    """A name that resolved to a public address at registration and to loopback when the stream is
    opened is refused then: the check is repeated, and the caller connects to what was checked."""
    answers = {"rebind.example": ["8.8.8.8"]}
    resolve = fixed(answers)
    assert STRICT.resolve("rebind.example", 80, resolve) == "8.8.8.8"
    answers["rebind.example"] = ["127.0.0.1"]
    with pytest.raises(AddressRefused):
        STRICT.resolve("rebind.example", 80, resolve)


def test_numeric_host_forms_are_resolved_like_a_connection_would() -> None:
    """``2130706433`` and ``127.1`` are 127.0.0.1 to getaddrinfo (and to FFmpeg): judged after
    resolution, they are refused like the dotted form."""
    for host in ("2130706433", "127.1", "0x7f.0.0.1", "localhost"):
        with pytest.raises(AddressRefused):
            STRICT.resolve(host, 80)  # the system resolver: numeric forms and /etc/hosts, no network
    assert "127.0.0.1" in system_resolver("localhost", 80)


def test_bad_network_settings_name_the_setting() -> None:
    with pytest.raises(ValueError, match="BK_CAMERA_ALLOWED_NETWORKS: 'nope'"):
        parse_networks("192.168.1.0/24, nope", "BK_CAMERA_ALLOWED_NETWORKS")
