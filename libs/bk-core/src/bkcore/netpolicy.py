"""Which network addresses a tenant- or operator-supplied URL may reach: camera sources (the gateway
pulls them) and notification webhooks (the case-manager posts to them). One rule for both.

Why it exists: a URL is a request the platform makes on someone's behalf from inside its network.
Without a rule, a camera URL of ``http://169.254.169.254/latest/meta-data`` or ``rtsp://10.96.0.1``
makes the gateway probe the cloud's metadata service or the cluster's internal services for the
caller (server-side request forgery).

The rule:

- **Never**: cloud metadata addresses (AWS/GCP/Azure/Alibaba/Tencent), unspecified, multicast,
  broadcast and reserved addresses, the cluster's own networks (``cluster_networks``) and names
  (``*.svc``, ``*.cluster.local``). No setting allows these.
- **Internal** (loopback, link-local, RFC 1918 private, CGNAT, IPv6 unique-local, and anything else
  not globally routable): refused unless the address is inside ``allowed_networks`` (a site's camera
  subnet, e.g. ``192.168.10.0/24``) or the policy allows internal addresses wholesale (embedded
  mode: one machine on the site's own network, the demo and tests on loopback).
- **Public** addresses pass.

Names are checked **after resolution**, every address the name resolves to (a name that mixes a
public and an internal address is refused), and the caller connects to the address that was
checked (``resolve`` returns it: the *pinned* address), so DNS cannot answer differently between
the check and the connection (DNS rebinding).

A refusal is one generic sentence for whoever configured the URL (``AddressRefused.public``): "this
host is internal", "it does not resolve" and "it is the metadata service" must not be told apart,
or the refusal itself maps the internal network. The cause is kept in ``AddressRefused.cause`` for
the server's log only. The rules are pure functions of an address; only ``resolve`` does I/O, through
an injectable resolver.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: (host, port) -> the addresses it resolves to, as strings; raises OSError when it does not resolve.
Resolver = Callable[[str, int], Sequence[str]]

#: The one sentence a refused URL gets (API answers, camera status). Same for every cause.
REFUSED = (
    "this address cannot be used: its host must resolve, and only to addresses outside the platform's "
    "own networks (a site's private camera network must be allowed by the operator)"
)

#: Instance metadata services: credentials live there. 169.254.169.254: AWS, GCP, Azure, Huawei,
#: OpenStack; 169.254.170.2: AWS ECS task metadata; 100.100.100.200: Alibaba Cloud; 169.254.0.23:
#: Tencent Cloud; fd00:ec2::254: AWS over IPv6.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "100.100.100.200",
        "169.254.0.23",
        "fd00:ec2::254",
    )
)
METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata.tencentyun.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
DEFAULT_CLUSTER_SUFFIXES = (".svc", ".cluster.local")
#: What the cluster-networks setting means, for every service that has one (BK_CLUSTER_NETWORKS).
CLUSTER_NETWORKS_DOC = (
    "comma list of the cluster's service and pod networks (e.g. 10.96.0.0/12,"
    "10.244.0.0/16): camera sources and webhooks never reach them, even inside an allowed network; names "
    "ending .svc or .cluster.local are refused whatever this says"
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix: the low 32 bits are IPv4
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215)


class AddressRefused(Exception):
    """The URL's host may not be reached. ``public`` is what its author is told; ``cause`` (which
    address, which rule) is for the server's log only."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause
        self.public = REFUSED


def parse_networks(value: str | Sequence[str], setting: str) -> tuple[IPNetwork, ...]:
    """A comma list (or a list) of CIDRs; raises ValueError naming ``setting`` and the bad entry."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {part!r} is not a network (CIDR such as 192.168.10.0/24)") from None
    return tuple(out)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, Teredo), reached through it."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _internal_kind(ip: IPAddress) -> str | None:
    """Which internal range an address is in (None: globally routable)."""
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT (100.64.0.0/10)"
    if ip.is_private:
        return "private"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if not ip.is_global:
        return "not globally routable"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """What a URL may reach. The default is the strict one (production)."""

    #: internal addresses allowed wholesale (embedded mode); never the "never" class
    allow_internal: bool = False
    #: internal networks allowed anyway: a site's camera subnet, a webhook receiver on the LAN
    allowed_networks: tuple[IPNetwork, ...] = ()
    #: the cluster's service and pod networks: never reached, even inside ``allowed_networks``
    cluster_networks: tuple[IPNetwork, ...] = ()
    #: host names of the cluster's internal DNS: never reached
    cluster_suffixes: tuple[str, ...] = DEFAULT_CLUSTER_SUFFIXES
    #: what ``allowed_networks`` is called where people set it (named in log lines)
    setting: str = "allowed networks"

    @classmethod
    def build(
        cls,
        *,
        allow_internal: bool,
        allowed_networks: str | Sequence[str] = "",
        cluster_networks: str | Sequence[str] = "",
        allowed_setting: str = "allowed networks",
        cluster_setting: str = "cluster networks",
    ) -> AddressPolicy:
        return cls(
            allow_internal=allow_internal,
            allowed_networks=parse_networks(allowed_networks, allowed_setting),
            cluster_networks=parse_networks(cluster_networks, cluster_setting),
            setting=allowed_setting,
        )

    # --- pure rules ----------------------------------------------------------------------------------
    def address_refusal(self, address: str | IPAddress) -> str | None:
        """Why this address may not be reached (for the log), or None when it may."""
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return f"{address!r} is not an IP address"
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = self.address_refusal(inner)
            return f"{ip} carries {inner}: {why}" if why else None
        if ip in METADATA_ADDRESSES:
            return f"{ip} is a cloud metadata service"
        if ip.is_unspecified:
            return f"{ip} is the unspecified address"
        if ip.is_multicast:
            return f"{ip} is multicast"
        if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
            return f"{ip} is broadcast"
        if ip.is_reserved and not ip.is_loopback:
            return f"{ip} is reserved"
        for net in self.cluster_networks:
            if ip.version == net.version and ip in net:
                return f"{ip} is in the cluster network {net}"
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return None
        kind = _internal_kind(ip)
        if kind is None or self.allow_internal:
            return None
        return f"{ip} is {kind} and not in {self.setting}"

    def name_refusal(self, host: str) -> str | None:
        """Why this host name may not be reached whatever it resolves to (metadata and cluster
        names), or None. An IP literal is judged as an address."""
        name = host.strip().rstrip(".").lower()
        try:  # as the resolver will see it: "ｋａｆｋａ.ｓｖｃ" is kafka.svc
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return f"{host!r} is not a valid host name"
        if not name:
            return "no host"
        try:
            ip = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            pass
        else:
            return self.address_refusal(ip)
        if name in METADATA_NAMES:
            return f"{name} is a cloud metadata service"
        for suffix in self.cluster_suffixes:
            if name.endswith(suffix) or name == suffix.lstrip("."):
                return f"{name} is a cluster-internal name (*{suffix})"
        return None

    # --- resolution and pinning ----------------------------------------------------------------------
    def resolve(self, host: str, port: int, resolver: Resolver | None = None) -> str:
        """The address to connect to for ``host``: every address it resolves to is checked, and the
        first is returned, for the caller to connect to that address and no other (pinned).
        Raises AddressRefused."""
        why = self.name_refusal(host)
        if why is not None:
            raise AddressRefused(f"{host}: {why}")
        bare = host.strip().strip("[]")
        try:
            literal: IPAddress | None = ipaddress.ip_address(bare)
        except ValueError:
            literal = None
        if literal is not None:
            return str(literal)
        try:
            addresses = list((resolver or system_resolver)(bare, port))
        except (OSError, UnicodeError) as exc:
            raise AddressRefused(f"{host} does not resolve: {exc}") from None
        if not addresses:
            raise AddressRefused(f"{host} resolves to no address")
        for address in addresses:
            why = self.address_refusal(address)
            if why is not None:
                raise AddressRefused(f"{host} resolves to {address}: {why}")
        return addresses[0]


def http_url_refusal(url: str, policy: AddressPolicy, *, https_only: bool) -> str | None:
    """Why an http(s) URL the platform would POST to (a webhook) is refused as written, before any
    resolution: the scheme, and a host that is an internal literal or a metadata/cluster name. Where
    a name resolves is checked when the request is made (``AddressPolicy.resolve``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL with a host"
    if https_only and parts.scheme != "https":
        return "must use https"
    return policy.name_refusal(parts.hostname)


def system_resolver(host: str, port: int) -> list[str]:
    """The system's resolver (getaddrinfo: what FFmpeg and httpx would use), addresses in its order,
    each once. Parses numeric forms the way connecting would (``2130706433``, ``127.1``)."""
    out: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in out:
            out.append(address)
    return out


def host_for_url(address: str) -> str:
    """An address as it goes into a URL's authority: IPv6 in brackets."""
    return f"[{address}]" if ":" in address else address
