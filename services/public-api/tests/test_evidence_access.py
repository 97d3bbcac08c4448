"""Staff given evidence links by the console are on record (#17.9): each answer that carries signed
snapshot or photo links writes one ``evidence.access.v1`` to the outbox, which the case-manager
chains in the tenant's audit log (its side: services/case-manager/tests/test_audit_keyed.py)."""

from __future__ import annotations

import asyncio

from public_helpers import TENANT, parent_login, staff_token
from sqlalchemy import select
from test_console_api import case_event, wait_for

from bk_public.alarms import sse_stream
from bk_public.evidence_log import StreamAccess
from bk_public.models import complaint, outbox
from bkcore.auth import Principal, Role
from bkproto.events.v1.evidence_pb2 import EvidenceAccessed


async def _accesses(svc) -> list[EvidenceAccessed]:  # type: ignore[no-untyped-def]
    async with svc.ctx.db.session() as s:
        rows = (await s.execute(select(outbox.c.payload).where(outbox.c.topic == "evidence.access.v1"))).all()
    return [EvidenceAccessed.FromString(r.payload) for r in rows]


async def test_console_links_to_evidence_are_recorded_for_the_audit(client, svc, clock):  # type: ignore[no-untyped-def]
    bus = svc.runtime.bus
    await bus.publish(
        "cases.v1", case_event("k1", "new", when=clock.now(), snapshot=f"{TENANT}/evidence/k1.jpg")
    )
    await bus.publish("cases.v1", case_event("k2", "new", when=clock.now()))  # no picture
    sup = staff_token(svc)

    async def both() -> bool:
        return len((await client.get("/console/cases", headers=sup)).json()) == 2

    await wait_for(both)
    board = await _accesses(svc)
    assert board and all(list(a.object_keys) == [f"{TENANT}/evidence/k1.jpg"] for a in board)
    assert {(a.actor_id, a.actor_role, a.via, tuple(a.case_ids)) for a in board} == {
        ("u-supervisor", "supervisor", "console case board", ("k1",))
    }
    assert board[0].meta.tenant_id == TENANT and board[0].meta.producer == "public-api"

    assert (await client.get("/console/cases/k1", headers=sup)).json()["snapshot_url"]
    assert (await _accesses(svc))[-1].via == "console case"
    before = len(await _accesses(svc))
    assert (await client.get("/console/cases/k2", headers=sup)).status_code == 200  # no picture, no record
    parent = await parent_login(client)
    assert (await client.get("/console/cases", headers=parent)).status_code == 403
    assert len(await _accesses(svc)) == before

    # Complaint photos on a site's page.
    async with svc.ctx.db.session() as s:
        await s.execute(
            complaint.insert().values(
                id="c1",
                tenant_id=TENANT,
                site_id="s1",
                parent_id="p1",
                category="hygiene",
                text="苍蝇 flies",
                photo_keys=[f"{TENANT}/complaints/c1.jpg"],
                created_at=clock.now(),
            )
        )
    await svc.seed_demo(tenant_id=TENANT, site_ids=["s1"])
    admin = staff_token(svc, Role.PLATFORM_ADMIN)
    r = await client.get("/admin/sites/s1/complaints", headers=admin)
    assert r.status_code == 200, r.text
    last = (await _accesses(svc))[-1]
    assert list(last.object_keys) == [f"{TENANT}/complaints/c1.jpg"] and last.actor_role == "platform_admin"


async def test_the_alarm_streams_links_are_recorded_per_stream_not_per_alarm(svc, clock):  # type: ignore[no-untyped-def]
    """Every pushed case carries a signed snapshot link: a stream's links are written together
    (every STREAM_FLUSH_S, and when it ends), each object once."""
    lakeside = Principal(
        subject="u-lake", tenant_id=TENANT, role=Role.SUPERVISOR, org_path="/minghu/lakeside"
    )
    sent = StreamAccess(svc.ctx, lakeside, via="console alarm stream", flush_s=3600)
    stream = sse_stream(svc.ctx.hub, lakeside, heartbeat_s=5, on_case=sent.add)
    assert b"hello" in await anext(stream)
    bus = svc.runtime.bus
    for cid in ("a1", "a2"):
        await bus.publish(
            "cases.v1", case_event(cid, "new", when=clock.now(), snapshot=f"{TENANT}/evidence/{cid}.jpg")
        )
        assert cid.encode() in await asyncio.wait_for(anext(stream), 3)
    await bus.publish("cases.v1", case_event("a1", "dispatched", when=clock.now()))  # the same picture again
    assert b"a1" in await asyncio.wait_for(anext(stream), 3)
    await sent.flush_due()
    assert await _accesses(svc) == []  # not due yet: one event per stream and period, not per alarm
    await stream.aclose()
    await sent.flush()
    (event,) = await _accesses(svc)
    assert list(event.object_keys) == [f"{TENANT}/evidence/a1.jpg", f"{TENANT}/evidence/a2.jpg"]
    assert list(event.case_ids) == ["a1", "a2"] and event.via == "console alarm stream"
    await sent.flush()
    assert len(await _accesses(svc)) == 1  # nothing new, nothing written
