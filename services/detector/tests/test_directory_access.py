"""The detector's HTTP routes check the caller against the current directory (#18.2): an operator
deactivated in the case-manager's directory is refused on the same unexpired token within a minute,
and a detector started after the change (a late joiner) refuses them from its first request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bk_detector.directory import tables
from bk_detector.service import DetectorService, create_service
from bk_detector.settings import DetectorSettings
from bk_detector.testing import ScriptedModel
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.directory import eventually, publish, user_event
from bkcore.testing.tokens import new_token_issuer

TOKENS = new_token_issuer()
WAIT_S = 60.0  # generous: the machine is shared; enforcement itself is bounded by the TTL below


def detector(settings: DetectorSettings, bus: InProcessBus, tmp_path: Path) -> DetectorService:
    settings = settings.model_copy(update={"directory_check_ttl_s": 1.0})
    store = LocalObjectStore(tmp_path / "objects", "secret", "http://127.0.0.1")
    runtime = Runtime(settings=settings, bus=bus, tokens=TOKENS, store=store)
    return create_service(runtime, settings, model=ScriptedModel())


def bearer(user: str) -> dict[str, str]:
    token = TOKENS.issue(Principal(subject=user, tenant_id="t", role=Role.PLATFORM_ADMIN))
    return {"Authorization": f"Bearer {token}"}


async def status(service: DetectorService, user: str) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://d") as c:
        return (await c.get("/model", headers=bearer(user))).status_code


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    bus = InProcessBus()
    await bus.start()
    yield bus
    await bus.stop()


async def test_a_deactivated_operator_is_refused_within_a_minute(
    settings: DetectorSettings, bus: InProcessBus, tmp_path: Path
) -> None:
    service = detector(settings, bus, tmp_path)
    try:
        await publish(
            bus,
            [user_event("t", "ops", role="platform_admin"), user_event("t", "ops2", role="platform_admin")],
        )

        async def known() -> bool:
            return await held(service, "ops") == 1 and await held(service, "ops2") == 1

        await eventually(known, timeout_s=WAIT_S, what="the detector read the directory")
        assert await status(service, "ops") == 200  # the same token, before the change

        await publish(bus, [user_event("t", "ops", role="platform_admin", active=False, version=2)])

        async def refused() -> bool:
            return await status(service, "ops") == 401

        await eventually(refused, timeout_s=WAIT_S, what="the deactivated operator is refused")
        assert await status(service, "ops2") == 200  # someone the change did not touch still works

        # Demoted from platform admin: no longer the operator (403), though the token says otherwise.
        await publish(bus, [user_event("t", "ops2", role="supervisor", org_path="/t", version=2)])

        async def demoted() -> bool:
            return await status(service, "ops2") == 403

        await eventually(demoted, timeout_s=WAIT_S, what="the demoted operator is refused")
    finally:
        await service.stop()


async def test_a_detector_started_after_the_change_catches_up(
    settings: DetectorSettings, bus: InProcessBus, tmp_path: Path
) -> None:
    # The deactivation was published while no detector ran (or before this one's start).
    await publish(bus, [user_event("t", "ops", role="platform_admin")])
    await publish(bus, [user_event("t", "ops", role="platform_admin", active=False, version=2)])
    service = detector(settings, bus, tmp_path)
    try:

        async def caught_up() -> bool:
            return await held(service, "ops") == 2

        await eventually(caught_up, timeout_s=WAIT_S, what="the late detector read the retained directory")
        assert await status(service, "ops") == 401
    finally:
        await service.stop()


async def held(service: DetectorService, user: str) -> int:
    """The version of ``user`` the detector's read model holds (0: none yet)."""
    t = tables.users
    async with service.directory.db.session() as s:
        version = (await s.execute(select(t.c.version).where(t.c.user_id == user))).scalar_one_or_none()
    return int(version or 0)
