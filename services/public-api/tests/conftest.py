"""A public-api service on an in-memory bus, a temp directory and a fake of the other services."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let tests import public_helpers

from public_helpers import NOON, FakeUpstream

from bk_public.service import PublicService
from bk_public.settings import PublicSettings
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.settings import CoreSettings
from bkcore.testing.tokens import new_token_issuer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOON)


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[PublicService]:
    core = CoreSettings(data_dir=tmp_path)
    bus = InProcessBus(None)
    store = LocalObjectStore(
        tmp_path / "objects", "s" * 32, "http://test", clock=lambda: clock.now().timestamp()
    )
    runtime = Runtime(settings=core, bus=bus, store=store, tokens=new_token_issuer(), clock=clock)
    settings = PublicSettings(
        data_dir=tmp_path, rate_user_per_min=1000, rate_ip_per_min=10_000, rate_write_per_min=100
    )
    service = PublicService(runtime, settings, upstream=FakeUpstream())
    await bus.start()
    await service.start()
    yield service
    await service.stop()
    await bus.stop()


@pytest.fixture
async def client(svc: PublicService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test") as c:
        yield c
