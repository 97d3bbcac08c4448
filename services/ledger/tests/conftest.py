"""Fixtures: a real LedgerService on SQLite (or PostgreSQL), an in-process bus and a local store."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from PIL import Image

from bk_ledger.service import LedgerService, create_service
from bk_ledger.settings import LedgerSettings
from bkcore.auth import PUBLIC_API, Principal, Role, TokenIssuer
from bkcore.bus.base import Delivery
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.service_tokens import SERVICE_IDENTITIES, TokenRequest, grant
from bkcore.testing.directory import DirSite, eventually, publish, site_event
from bkcore.testing.tokens import new_token_issuer

TENANT = "minghu"
SITES = (
    DirSite(
        "lakeside-primary", "湖滨第一小学食堂", "school_canteen", "/minghu/lakeside/north", "06:30-19:30"
    ),
    DirSite("hillview-noodle", "山景老字号面馆", "restaurant", "/minghu/hillview", "10:00-22:00"),
)
# 2026-09-01 08:00 Asia/Shanghai
START = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Harness:
    service: LedgerService
    client: httpx.AsyncClient
    clock: FakeClock
    tokens: TokenIssuer
    bus: InProcessBus
    store: LocalObjectStore
    alerts: list[Delivery]

    def auth(
        self,
        role: Role = Role.SITE_MANAGER,
        *,
        sites: tuple[str, ...] = ("lakeside-primary",),
        org: str = "/",
        tenant: str = TENANT,
    ) -> dict[str, str]:
        if role == Role.SERVICE:  # the token the public-api gets from the issuer, scopes and all
            grant_ = grant(self.tokens, SERVICE_IDENTITIES[PUBLIC_API], TokenRequest(tenant_id=tenant))
            return {"Authorization": f"Bearer {grant_.access_token}"}
        p = Principal(
            subject=f"u-{role.value}", tenant_id=tenant, role=role, org_path=org, site_ids=frozenset(sites)
        )
        return {"Authorization": f"Bearer {self.tokens.issue(p)}"}

    async def flush(self) -> None:
        """Push the outbox onto the bus and let the consumer run."""
        import asyncio

        await self.service.relay.flush()
        for _ in range(50):
            await asyncio.sleep(0.01)

    def rules_seen(self) -> list[str]:
        return [d.event.rule for d in self.alerts]  # type: ignore[attr-defined]


async def make_harness(
    tmp_path: Path, database_url: str = "", schema: str = "ledger", **overrides: Any
) -> AsyncIterator[Harness]:
    settings = LedgerSettings(
        data_dir=tmp_path,
        database_url=database_url,
        db_schema=schema,
        sweep_interval_s=3600,
        max_photo_bytes=64 * 1024,
        outbox_poll_s=0.05,
        **overrides,  # e.g. the MQTT broker of test_mqtt_ingest
    )
    bus = InProcessBus(None)
    store = LocalObjectStore(tmp_path / "objects", "test-signing-secret", "http://test")
    tokens = new_token_issuer()
    clock = FakeClock(START)
    seen: list[Delivery] = []

    async def collect(d: Delivery) -> None:
        seen.append(d)

    bus.subscribe("ledger.alerts.v1", "test-case-manager", collect)
    service = create_service(
        Runtime(settings=settings, bus=bus, store=store, tokens=tokens, clock=clock), settings
    )
    await service.start()
    await bus.start()  # the host starts the bus after the services subscribed
    # The sites come as the case-manager publishes them (directory.v1), not seeded into the ledger.
    await publish(bus, [site_event(TENANT, site) for site in SITES])
    ids = {site.site_id for site in SITES}

    async def sites_known() -> bool:
        return await service.directory.known_sites(tenant_id=TENANT, site_ids=ids) == ids

    await eventually(sites_known, what="the ledger's read model holds the test sites")
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://test")
    try:
        yield Harness(service, client, clock, tokens, bus, store, seen)
    finally:
        await client.aclose()
        await service.stop()
        await bus.stop()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in make_harness(tmp_path):
        yield harness


PG = os.environ.get("BK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.asynccontextmanager
async def postgres_harness(tmp_path: Path, prefix: str) -> AsyncIterator[Harness]:
    """``make_harness`` on PostgreSQL in a schema of its own, dropped after; fails (never skips) when
    the server is unreachable."""
    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG), 10)
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG} is required for this test and is unreachable: {exc!r}")
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        async for h in make_harness(tmp_path, database_url=PG, schema=schema):
            yield h
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
async def h_pg(tmp_path: Path) -> AsyncIterator[Harness]:
    """The harness on PostgreSQL (``postgres_harness``)."""
    async with postgres_harness(tmp_path, "ledger_t") as harness:
        yield harness


@pytest.fixture
def harness_factory():  # type: ignore[no-untyped-def]
    """``make_harness`` for tests that pick their own database (conftest is not importable)."""
    return make_harness
