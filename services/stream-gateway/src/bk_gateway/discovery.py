"""Where the detector pods are: the addresses behind the detector pool's name, followed as they change.

On Kubernetes the detectors are a pool behind a headless Service: its DNS name answers with one A
(or AAAA) record per ready pod. Handing that name to gRPC opens one channel, to whichever address its
resolver picks, so every frame went to one pod. Instead the gateway resolves the name itself, every
``detector_resolve_interval_s``, and keeps one stream per pod address (``DetectorClient``); cameras are
spread over the pods by rendezvous hashing, so a camera moves only when its pod comes or goes.

A failed lookup (DNS down, a timeout, a name with no address for a moment) keeps the last pods known:
a DNS blip must not tear down streams to detectors that still answer; a pod that really went away
shows as a stream that cannot connect, and leaves with the next good answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

# host, port -> the host's addresses (IP literals); raises OSError (socket.gaierror) when it cannot
Lookup = Callable[[str, int], Awaitable[Sequence[str]]]
LOOKUP_TIMEOUT_S = 5.0  # glibc's own per-try resolver timeout; a lookup never holds the pool longer

DETECTOR_PODS = Gauge("bk_gateway_detector_pods", "detector pod addresses resolved from the pool's name")
RESOLVE_ERRORS = Counter(
    "bk_gateway_detector_resolve_errors_total",
    "failed lookups of the detector pool's name (the last pods known are kept)",
    ["name"],
)


async def dns_lookup(host: str, port: int) -> list[str]:
    """Every address the system resolver gives ``host`` (all A and AAAA records of a headless
    Service), deduplicated and sorted."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return sorted({str(info[4][0]) for info in infos})


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) as (host, port); a clear error for anything else."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"detector endpoint {endpoint!r} is not host:port")
    return host.removeprefix("[").removesuffix("]"), int(port)


def pod_endpoint(address: str, port: int) -> str:
    """A gRPC target for one pod address: IPv6 in brackets."""
    return f"[{address}]:{port}" if ipaddress.ip_address(address).version == 6 else f"{address}:{port}"


class PoolResolver:
    """The pod endpoints behind the configured pool names, resolved on each ``resolve()``."""

    def __init__(
        self, names: Sequence[str], lookup: Lookup = dns_lookup, timeout_s: float = LOOKUP_TIMEOUT_S
    ) -> None:
        if not names:
            raise ValueError("a detector pool needs at least one host:port to resolve")
        self._names = [(name, *split_endpoint(name)) for name in names]
        self._lookup, self._timeout_s = lookup, timeout_s
        self._known: dict[str, frozenset[str]] = {}  # per name: its pods at the last good answer
        self._failing: set[str] = set()  # names whose last lookup failed (logged once per outage)

    async def resolve(self) -> frozenset[str]:
        """The pods now: each name's fresh answer, or its last good one when the lookup fails."""
        pods: set[str] = set()
        for name, host, port in self._names:
            try:
                async with asyncio.timeout(self._timeout_s):
                    addresses = await self._lookup(host, port)
                if not addresses:
                    raise LookupError("no address")
                found = frozenset(pod_endpoint(a, port) for a in addresses)
            except (OSError, TimeoutError, LookupError, ValueError) as exc:
                self._failed(name, exc)
            else:
                if name in self._failing:
                    self._failing.discard(name)
                    log.info("detector pool %s resolves again: %d pod(s)", name, len(found))
                self._known[name] = found
            pods |= self._known.get(name, frozenset())
        DETECTOR_PODS.set(len(pods))
        return frozenset(pods)

    def _failed(self, name: str, exc: BaseException) -> None:
        RESOLVE_ERRORS.labels(name).inc()
        if name in self._failing:
            return
        self._failing.add(name)
        cause = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        log.warning(
            "cannot resolve detector pool %s (%s); keeping its %d known pod(s)",
            name,
            cause,
            len(self._known.get(name, ())),
        )
