"""Fixtures: a case-manager on SQLite (fast) with an in-process bus, a FakeClock and the demo tenant."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bk_cases.service import CaseService, create_service
from bk_cases.settings import CaseSettings
from bkcore.auth import TokenIssuer
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime

sys.path.insert(0, str(Path(__file__).parent))
from demo import DEMO

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
        tokens=TokenIssuer(SECRET),
        clock=clock,
    )
    return runtime, settings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def service(tmp_path: Path, clock: FakeClock) -> AsyncIterator[CaseService]:
    runtime, settings = make_runtime(tmp_path, clock)
    svc = create_service(runtime, settings)
    await svc.start()
    await runtime.bus.start()
    await svc.seed_demo(DEMO)
    try:
        yield svc
    finally:
        await runtime.bus.stop()
        await svc.stop()


@pytest.fixture
async def client(service: CaseService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cases") as c:
        yield c


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
