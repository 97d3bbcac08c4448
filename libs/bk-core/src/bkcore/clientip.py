"""The caller's IP address: the one rule every service reads it by (rate limits, login throttles).

``X-Forwarded-For`` is a list every proxy appends to, so only its right end is trustworthy: the
entries our own proxies wrote. The left end is whatever the client sent, and trusting it (as the
public-api once did) let anyone pick a fresh IP per request and walk past every per-IP limit.

- No trusted proxy (the default): the TCP peer's address; the header is ignored.
- ``BK_TRUSTED_PROXY_HOPS=N``: N proxies in front; the client is the entry the outermost wrote,
  the N-th from the right.
- ``BK_TRUSTED_PROXY_CIDRS``: the header is read only when the peer is one of those networks,
  right to left, skipping entries inside them; the first address outside is the client.

uvicorn runs with ``proxy_headers=False`` (``bkcore.standalone``) so that this is the only place
the header is interpreted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    hops: int = 0
    networks: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> TrustedProxies:
        """From ``CoreSettings.trusted_proxy_hops`` / ``trusted_proxy_cidrs`` (validated there)."""
        return cls(
            hops=settings.trusted_proxy_hops,
            networks=tuple(ipaddress.ip_network(c, strict=False) for c in settings.trusted_proxy_cidrs),
        )

    def trusts(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)


def client_ip(peer: str | None, forwarded_for: Sequence[str], proxies: TrustedProxies) -> str:
    """The client's address from the TCP ``peer`` and the ``X-Forwarded-For`` header values."""
    peer = peer or UNKNOWN
    if not proxies.hops and not proxies.networks:
        return peer
    chain = [e.strip() for value in forwarded_for for e in value.split(",") if e.strip()]
    if proxies.networks:
        if not proxies.trusts(peer):
            return peer  # not from our proxy: its header is the client's own words
        for entry in reversed(chain):
            if not proxies.trusts(entry):
                return _normal(entry)
        return _normal(chain[0]) if chain else peer
    if not chain:
        return peer
    # Fewer entries than proxies: every entry was written by one of ours; the leftmost is the client.
    return _normal(chain[-proxies.hops] if len(chain) >= proxies.hops else chain[0])


def scope_client_ip(scope: Mapping[str, Any], proxies: TrustedProxies) -> str:
    """``client_ip`` of an ASGI scope (middleware that runs before a Request exists)."""
    client = scope.get("client")
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers") or ()
    values = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
    return client_ip(client[0] if client else None, values, proxies)


def request_client_ip(request: Request, proxies: TrustedProxies) -> str:
    return scope_client_ip(request.scope, proxies)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _normal(entry: str) -> str:
    """An address in one spelling (``::ffff:1.2.3.4`` and ``1.2.3.4`` are one client); a value that is
    not an address (a proxy's ``unknown``, a port suffix) is kept as written, bounded in length."""
    ip = _ip(entry)
    if ip is None:
        host, _, port = entry.rpartition(":")
        ip = _ip(host) if host and port.isdigit() else None
    if ip is None:
        return entry[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def ip_limit_key(address: str) -> str:
    """What a per-IP limit counts: the address, or for IPv6 its /64 (one subscriber's network, of
    which they hold 2^64 addresses: per address, a limit would never bite)."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip) if ip is not None else address[:64]
