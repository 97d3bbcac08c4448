"""Detector pool discovery: the gateway resolves the pool's name to its pods and keeps one stream per
pod, so cameras spread over every pod (not all on the one gRPC's resolver would pick), and a camera
moves only when its own pod comes or goes.

The pods are real gRPC detector servers on 127.0.0.2-5 (all of 127/8 is loopback on Linux), all on
one port like a headless Service's pods; the lookup is the only injected part (no DNS server here to
publish a name with several A records), and ``dns_lookup`` itself is tested against the real resolver.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from gateway_helpers import FakeDetector, settings, until

from bk_gateway.detector_client import DetectorClient
from bk_gateway.discovery import PoolResolver, dns_lookup, pod_endpoint, split_endpoint
from bk_gateway.frame_queue import FrameItem, FrameQueue
from bk_gateway.settings import GatewaySettings
from bkproto.detector.v1 import detector_pb2_grpc as pbg

POOL = "bk-detector.bright-kitchen.svc.cluster.local"
CAMERAS = [f"cam-{i:04d}" for i in range(1200)]  # ~400 per pod: ±20% is 5 standard deviations


class Dns:
    """The pool's A records, as a test changes them; fails like getaddrinfo when told to."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self.addresses = list(addresses)
        self.down = False
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if self.down:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return list(self.addresses)


class Pod:
    def __init__(self, address: str, server: grpc.aio.Server, detector: FakeDetector) -> None:
        self.address, self.server, self.detector = address, server, detector


async def start_pod(address: str, port: int) -> Pod:
    detector = FakeDetector()
    server = grpc.aio.server()
    pbg.add_DetectorServicer_to_server(detector, server)
    bound = server.add_insecure_port(f"{address}:{port}")
    if bound != port:
        raise RuntimeError(f"cannot bind a detector on {address}:{port}")
    await server.start()
    return Pod(address, server, detector)


async def start_pool(addresses: Sequence[str]) -> tuple[int, dict[str, Pod]]:
    """Detectors on every address, all on one port (retried: the port is free on 127.0.0.1 only)."""
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        pods: dict[str, Pod] = {}
        try:
            for a in addresses:
                pods[a] = await start_pod(a, port)
            return port, pods
        except RuntimeError:
            for pod in pods.values():
                await pod.server.stop(None)
    raise RuntimeError(f"no common free port for detectors on {list(addresses)}")


def frame(camera_id: str, n: int) -> FrameItem:
    return FrameItem(
        frame_id=f"{camera_id}-{n}",
        tenant_id="minghu",
        site_id="s1",
        camera_id=camera_id,
        captured_at=datetime.now(UTC),
        jpeg=b"\xff\xd8fake",
        rules_version=1,
    )


def pool_settings(tmp: Path, port: int, **kw: object) -> GatewaySettings:
    return settings(
        tmp,
        detector_discovery="dns",
        detector_endpoints=f"{POOL}:{port}",
        detector_resolve_interval_s=0.2,
        batch_size=32,
        batch_max_wait_s=0.02,
        detector_timeout_s=3.0,
        **kw,
    )


async def round_of_frames(queue: FrameQueue, pods: dict[str, Pod], n: int) -> dict[str, str]:
    """One frame per camera; which pod's detector got each camera."""
    before = {a: len(p.detector.frames) for a, p in pods.items()}
    for cid in CAMERAS:
        queue.push(frame(cid, n))
    await until(
        lambda: sum(len(p.detector.frames) - before[a] for a, p in pods.items()) >= len(CAMERAS),
        30,
        f"round {n} answered",
    )
    where: dict[str, str] = {}
    for a, p in pods.items():
        for f in p.detector.frames[before[a] :]:
            assert f.camera_id not in where, f"{f.camera_id} reached two pods in one round"
            where[f.camera_id] = a
    assert set(where) == set(CAMERAS)
    return where


def spread(where: dict[str, str], pods: Sequence[str]) -> dict[str, int]:
    return {a: sum(1 for p in where.values() if p == a) for a in pods}


async def test_cameras_spread_over_every_pod_and_move_only_with_their_pod(tmp_path: Path) -> None:
    addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    port, pods = await start_pool(addresses)
    dns = Dns(addresses[:3])
    queue = FrameQueue(10_000)
    client = DetectorClient(pool_settings(tmp_path, port), queue, lambda _cid: None, lookup=dns)
    client.start()
    try:
        # Three pods: one stream each, and every pod gets its third of the cameras, within ±20%.
        await until(lambda: len(client.healthy()) == 3, 10, "a stream to each of the 3 pods")
        assert (POOL, port) in dns.asked
        three = await round_of_frames(queue, pods, 0)
        counts = spread(three, addresses[:3])
        assert all(0.8 * len(CAMERAS) / 3 <= c <= 1.2 * len(CAMERAS) / 3 for c in counts.values()), counts
        assert not pods["127.0.0.5"].detector.frames

        # A fourth pod joins: only the cameras it now owns move, all of them to it (about a quarter).
        dns.addresses = addresses
        await until(lambda: len(client.healthy()) == 4, 10, "a stream to the new pod")
        four = await round_of_frames(queue, pods, 1)
        moved = {c for c in CAMERAS if four[c] != three[c]}
        assert moved and all(four[c] == "127.0.0.5" for c in moved)
        assert 0.8 * len(CAMERAS) / 4 <= len(moved) <= 1.2 * len(CAMERAS) / 4, len(moved)

        # A pod dies and leaves DNS: its cameras move to the others, no other camera moves.
        gone = "127.0.0.3"
        await pods[gone].server.stop(None)
        dns.addresses = [a for a in addresses if a != gone]
        await until(
            lambda: len(client.streams) == 3 and len(client.healthy()) == 3, 10, "the dead pod retired"
        )
        assert pod_endpoint(gone, port) not in {s.endpoint for s in client.streams}
        alive = {a: p for a, p in pods.items() if a != gone}
        three_again = await round_of_frames(queue, alive, 2)
        assert {c for c in CAMERAS if three_again[c] != four[c]} == {c for c in CAMERAS if four[c] == gone}
        counts = spread(three_again, list(alive))
        assert all(0.8 * len(CAMERAS) / 3 <= c <= 1.2 * len(CAMERAS) / 3 for c in counts.values()), counts
    finally:
        await client.stop()
        for p in pods.values():
            await p.server.stop(None)


async def test_a_dns_outage_keeps_the_pods_it_knew(tmp_path: Path) -> None:
    port, pods = await start_pool(["127.0.0.2", "127.0.0.3"])
    dns = Dns(list(pods))
    queue = FrameQueue(10_000)
    client = DetectorClient(pool_settings(tmp_path, port), queue, lambda _cid: None, lookup=dns)
    client.start()
    try:
        await until(lambda: len(client.healthy()) == 2, 10, "streams to both pods")
        dns.down = True
        asked = len(dns.asked)
        await until(lambda: len(dns.asked) >= asked + 3, 10, "three failed lookups")
        assert len(client.healthy()) == 2 and client.ready()
        where = await round_of_frames(queue, pods, 0)
        assert set(where.values()) == set(pods)
    finally:
        await client.stop()
        for p in pods.values():
            await p.server.stop(None)


async def test_a_pool_not_resolved_yet_is_not_ready(tmp_path: Path) -> None:
    dns = Dns([])  # a headless Service with no ready pod
    client = DetectorClient(pool_settings(tmp_path, 50051), FrameQueue(8), lambda _cid: None, lookup=dns)
    client.start()
    try:
        await until(lambda: len(dns.asked) >= 2, 10, "the pool looked up twice")
        assert client.streams == [] and not client.ready()
    finally:
        await client.stop()


async def test_static_endpoints_are_used_as_written(tmp_path: Path) -> None:
    dns = Dns(["127.0.0.9"])
    s = settings(tmp_path, detector_endpoints="localhost:50051,127.0.0.1:50052")
    client = DetectorClient(s, FrameQueue(8), lambda _cid: None, lookup=dns)
    assert [st.endpoint for st in client.streams] == ["localhost:50051", "127.0.0.1:50052"]
    client.start()
    await client.stop()
    assert dns.asked == []


# --- the resolver ------------------------------------------------------------------------------------


async def test_dns_lookup_asks_the_system_resolver() -> None:
    assert "127.0.0.1" in await dns_lookup("localhost", 50051)
    assert await dns_lookup("127.0.0.7", 1) == ["127.0.0.7"]
    with pytest.raises(socket.gaierror):
        await dns_lookup("no-such-pod.invalid", 50051)  # .invalid never resolves (RFC 6761)


async def test_resolver_answers_pod_endpoints_and_keeps_the_last_good_answer() -> None:
    dns = Dns(["10.1.0.7", "fd00::7", "10.1.0.8"])
    pool = PoolResolver(["bk-detector:50051"], dns)
    assert await pool.resolve() == {"10.1.0.7:50051", "[fd00::7]:50051", "10.1.0.8:50051"}
    dns.down = True
    assert await pool.resolve() == {"10.1.0.7:50051", "[fd00::7]:50051", "10.1.0.8:50051"}
    dns.down, dns.addresses = False, ["10.1.0.9"]
    assert await pool.resolve() == {"10.1.0.9:50051"}


async def test_a_hung_lookup_is_bounded() -> None:
    async def hangs(_host: str, _port: int) -> list[str]:
        await asyncio.sleep(3600)
        return []

    assert await PoolResolver(["bk-detector:50051"], hangs, timeout_s=0.05).resolve() == frozenset()


def test_bad_pool_names_are_refused_clearly(tmp_path: Path) -> None:
    assert split_endpoint("[fd00::1]:50051") == ("fd00::1", 50051)
    for bad in ("bk-detector", "bk-detector:http", ":50051", "bk-detector:70000"):
        with pytest.raises(ValueError, match="not host:port"):
            split_endpoint(bad)
    with pytest.raises(ValueError, match="BK_DETECTOR_ENDPOINTS"):
        settings(tmp_path, detector_discovery="dns", detector_endpoints="")
    with pytest.raises(ValueError, match="detector_discovery"):
        settings(tmp_path, detector_discovery="consul")
