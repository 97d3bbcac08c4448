"""Fixtures: a case-manager on SQLite (fast) with an in-process bus, a FakeClock and the demo tenant."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bk_cases.service import CaseService, create_service
from bkcore.clock import FakeClock

sys.path.insert(0, str(Path(__file__).parent))
from cm_demo import DEMO
from cm_testkit import make_runtime


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def demo() -> object:
    """The tenant the service is seeded with: ``cm_demo.DEMO``; the loop's tests (test_loop_*) override
    it with the shipped demo (``brightkitchen.demo_data``) so they run on the directory users get."""
    return DEMO


@pytest.fixture
async def service(tmp_path: Path, clock: FakeClock, demo: object) -> AsyncIterator[CaseService]:
    runtime, settings = make_runtime(tmp_path, clock)
    svc = create_service(runtime, settings)
    await svc.start()
    await runtime.bus.start()
    await svc.seed_demo(demo)  # type: ignore[arg-type]
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
