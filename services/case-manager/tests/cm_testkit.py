"""Helpers shared by the case-manager tests (a unique module name: suites share one interpreter)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx

from bk_cases.settings import CaseSettings
from bkcore.bus.base import new_meta
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase

SECRET = "test-secret-0123456789abcdef-0123456789"


def make_runtime(tmp: Path, clock: FakeClock, bus: object | None = None) -> tuple[Runtime, CaseSettings]:
    settings = CaseSettings(
        data_dir=tmp,
        jwt_secret=SECRET,
        url_signing_secret=SECRET,
        notify_cooldown_s=600,
        outbox_poll_s=0.05,
        sweep_interval_s=3600,
    )
    runtime = Runtime(
        settings=settings,
        bus=bus or InProcessBus(None),  # type: ignore[arg-type]
        store=LocalObjectStore(tmp / "objects", SECRET, "http://test/objects"),
        tokens=new_token_issuer(),
        clock=clock,
    )
    return runtime, settings


async def login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post("/auth/login", json={"username": username, "password": f"demo-{username}"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def eventually(check, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
    """Poll an async ``check`` until it returns something truthy (consumers run in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def detection(
    clock: FakeClock,
    vtype: str = "no_chef_hat",
    site: str = "lakeside-primary",
    camera: str = "lakeside-primary-prep",
    *,
    offset_s: float = 0,
    tenant: str = "minghu",
) -> ViolationDetected:
    at = clock.now() + timedelta(seconds=offset_s)
    e = ViolationDetected(
        meta=new_meta(tenant_id=tenant, key=camera, producer="test", occurred_at=at),
        violation_id=f"v-{at.timestamp()}-{vtype}",
        phase=ViolationPhase.VIOLATION_PHASE_STARTED,
        violation_type=vtype,
        site_id=site,
        camera_id=camera,
        zone="prep",
        score=0.9,
        raw_snapshot_key=f"{tenant}/evidence/2026/09/01/{camera}/raw.jpg",
        annotated_snapshot_key=f"{tenant}/evidence/2026/09/01/{camera}/ann.jpg",
    )
    e.started_at.FromDatetime(at)
    e.box.x1, e.box.y1, e.box.x2, e.box.y2 = 0.1, 0.1, 0.5, 0.6
    return e
