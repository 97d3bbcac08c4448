"""Shared test helpers: a runtime on in-process adapters, a fake detector, polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from bk_gateway.settings import GatewaySettings
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pbg
from bkproto.events.v1.camera_status_pb2 import CameraStatusChanged

SECRET = "test-secret-0123456789abcdef-0123456789"


def settings(tmp: Path, **kw: Any) -> GatewaySettings:
    base: dict[str, Any] = dict(
        data_dir=tmp,
        gateway_id="gw-0",
        backoff_initial_s=0.2,
        backoff_max_s=1.0,
        open_timeout_s=3,
        read_timeout_s=3,
        watchdog_s=4,
        sim_fps=4,
        sim_width=320,
        sim_height=180,
        reconcile_interval_s=1.0,
        detector_frame_width=320,
        detector_frame_height=180,
    )
    base.update(kw)
    return GatewaySettings(**base)


def runtime(s: GatewaySettings) -> Runtime:
    store = LocalObjectStore(s.data_dir / "objects", SECRET, "http://test")
    return Runtime(settings=s, bus=InProcessBus(), store=store, tokens=new_token_issuer())


def token(rt: Runtime, role: Role = Role.PLATFORM_ADMIN, tenant: str = "minghu", **kw: Any) -> dict[str, str]:
    p = Principal(subject="u1", tenant_id=tenant, role=role, **kw)
    return {"Authorization": f"Bearer {rt.tokens.issue(p)}"}


class StatusLog:
    """Collects camera.status.v1 events from the bus."""

    def __init__(self, bus: InProcessBus) -> None:
        self.events: list[CameraStatusChanged] = []
        bus.subscribe("camera.status.v1", "test", self._on)

    async def _on(self, d: Any) -> None:
        self.events.append(d.event)

    def states(self, camera_id: str) -> list[int]:
        return [e.state for e in self.events if e.camera_id == camera_id and not e.alarm]


class FakeDetector(pbg.DetectorServicer):
    """Answers every batch (optionally slowly) and keeps what it saw."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.frames: list[pb.Frame] = []
        self.profiles: list[pb.CameraProfile] = []
        self.batches = 0

    async def Detect(self, request_iterator, context):  # type: ignore[no-untyped-def]
        async for batch in request_iterator:
            self.batches += 1
            self.frames.extend(batch.frames)
            self.profiles.extend(batch.profiles)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield pb.DetectionBatch(
                batch_id=batch.batch_id,
                model_version="fake",
                results=[pb.FrameResult(frame_id=f.frame_id, camera_id=f.camera_id) for f in batch.frames],
            )


async def start_detector(servicer: FakeDetector) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    pbg.add_DetectorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def until(cond: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within_s}s waiting for {what}")
