"""Staff watching a kitchen are on record (#17.9): a live view opened, and a camera's stills at most
once per user and camera per window, each written as ``evidence.access.v1`` for the case-manager's
audit chain; a service reading for parents is not staff."""

from __future__ import annotations

from pathlib import Path

import httpx
from gateway_helpers import runtime, settings, token, until
from sqlalchemy import select

from bk_gateway.models import outbox
from bk_gateway.service import create_service
from bkcore.auth import STREAM_GATEWAY, Role, Scope
from bkcore.testing.tokens import service_principal
from bkproto.events.v1.evidence_pb2 import EvidenceAccessed

CAM = "kitchen-1"


async def _accesses(svc) -> list[EvidenceAccessed]:  # type: ignore[no-untyped-def]
    async with svc.db.session() as s:
        rows = (await s.execute(select(outbox.c.payload).where(outbox.c.topic == "evidence.access.v1"))).all()
    return [EvidenceAccessed.FromString(r.payload) for r in rows]


async def test_live_views_and_stills_given_to_staff_are_recorded(tmp_path: Path) -> None:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras([{"id": CAM, "tenant_id": "minghu", "site_id": "s1", "zone": "cooking",
                                 "name": "kitchen", "scenario": "pattern-a"}])  # fmt: skip
        await until(lambda: svc.fleet.workers[("minghu", CAM)].latest is not None, 10, "a frame")
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            public = rt.tokens.issue(
                service_principal("public-api", "minghu", Scope.CAMERAS_READ), audience=[STREAM_GATEWAY]
            )
            r = await c.get(f"/v1/cameras/{CAM}/snapshot.jpg", headers={"Authorization": f"Bearer {public}"})
            assert r.status_code == 200
            assert await _accesses(svc) == []  # the public API, for parents: not staff

            sup = token(rt, Role.PLATFORM_ADMIN)
            for _ in range(3):  # the console's wall refreshing its stills
                assert (await c.get(f"/v1/cameras/{CAM}/snapshot.jpg", headers=sup)).status_code == 200
            (still,) = await _accesses(svc)
            who = (still.actor_id, still.actor_role, still.via)
            assert who == ("u1", "platform_admin", "camera snapshot")
            assert list(still.object_keys) == [f"minghu/cameras/{CAM}"] and still.meta.tenant_id == "minghu"

            assert (await c.post(f"/v1/cameras/{CAM}/live", headers=sup)).status_code == 200
            live = (await _accesses(svc))[-1]
            assert live.via == "live view" and live.meta.producer == "stream-gateway"
    finally:
        await svc.stop()
        await rt.bus.stop()
