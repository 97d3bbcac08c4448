"""The closed loop end to end over the API, per risk class, with a controllable clock."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from cm_testkit import detection, eventually, login
from sqlalchemy import select, update

from bk_cases.audit import service as audit
from bk_cases.audit.models import AuditEntry
from bk_cases.cases.scheduled import sweep_once
from bk_cases.db import outbox
from bk_cases.service import CaseService
from bkcore.bus.base import new_meta
from bkcore.clock import FakeClock
from bkcore.testing.pictures import jpeg
from bkproto.events.v1.complaints_pb2 import ComplaintFiled
from bkproto.events.v1.notifications_pb2 import NotificationRequested


async def _case(client: httpx.AsyncClient, h: dict[str, str], **filters: str) -> dict:
    async def found():
        page = (await client.get("/cases", headers=h, params=filters)).json()
        return page["items"][0] if page["total"] else None

    return await eventually(found)


async def _notifications(service: CaseService) -> list[NotificationRequested]:
    async with service.db.session() as s:
        rows = (await s.execute(select(outbox.c.payload).where(outbox.c.topic == "notifications.v1"))).all()
    return [NotificationRequested.FromString(r.payload) for r in rows]


async def _rectify(
    client: httpx.AsyncClient, case_id: str, h_site: dict[str, str], note: str
) -> httpx.Response:
    files = [("photos", ("after.jpg", jpeg(), "image/jpeg"))]  # a real picture: uploads are decoded
    return await client.post(
        f"/cases/{case_id}/rectifications", headers=h_site, data={"note": note}, files=files
    )


@pytest.mark.parametrize(("vtype", "risk_class"), [("rodent", 1), ("smoking", 2), ("no_mask", 3)])
async def test_full_loop_with_reject_and_resubmit(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, vtype: str, risk_class: int
) -> None:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, vtype))
    sup, mgr = await login(client, "north"), await login(client, "manager")
    case = await _case(client, sup, case_type=vtype)
    assert case["risk_class"] == risk_class
    cid = case["id"]
    if risk_class == 1:  # 双推送: dispatched at once, urgent to site manager and supervisor
        assert case["status"] == "dispatched"
        urgent = {n.recipient_id for n in await _notifications(service) if n.urgent}
        assert {"minghu:manager", "minghu:north"} <= urgent
    else:
        assert case["status"] == "new"
        assert (await client.post(f"/cases/{cid}/dispatch", headers=mgr)).status_code == 403
        assert (await client.post(f"/cases/{cid}/dispatch", headers=sup)).json()["status"] == "dispatched"
    # The school's case is copied to the education bureau (抄告).
    assert "minghu:edu" in {
        n.recipient_id for n in await _notifications(service) if n.template == "case_copy"
    }
    assert (await client.post(f"/cases/{cid}/acknowledge", headers=mgr)).json()["status"] == "acknowledged"
    assert (
        await client.post(f"/cases/{cid}/approve", headers=sup)
    ).status_code == 409  # nothing submitted yet
    r = await _rectify(client, cid, mgr, "cleaned up")
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    assert (await client.post(f"/cases/{cid}/approve", headers=mgr)).status_code == 403
    r = await client.post(f"/cases/{cid}/reject", headers=sup, json={"note": "photo unclear"})
    assert r.json()["status"] == "rectifying"
    assert (await _rectify(client, cid, mgr, "second try")).json()["status"] == "submitted"
    when = (clock.now() + timedelta(days=1)).isoformat()
    assert (await client.post(f"/cases/{cid}/recheck", headers=sup, json={"recheck_at": when})).json()[
        "status"
    ] == "recheck"
    assert (await client.post(f"/cases/{cid}/approve", headers=sup)).json()["status"] == "approved"
    closed = (await client.post(f"/cases/{cid}/close", headers=sup)).json()
    assert closed["status"] == "closed" and closed["closed_at"]
    detail = (await client.get(f"/cases/{cid}", headers=mgr)).json()
    assert detail["verdict"] == "confirmed"
    assert [r["review"] for r in detail["rectifications"]] == ["rejected", "approved"]
    assert all(
        url.startswith("http://test/objects") for r in detail["rectifications"] for url in r["photo_urls"]
    )
    actions = [e["action"] for e in detail["timeline"]]
    assert actions == [
        "created",
        "dispatch",
        "copied",  # 抄告 to the education bureau: a school's case
        "acknowledge",
        "submit",
        "reject",
        "submit",
        "schedule_recheck",
        "approve",
        "close",
    ]
    async with service.db.session() as s:
        assert (await audit.verify(db_session=s, tenant_id="minghu")).ok


async def test_false_alarm_closes_with_verdict(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "phone_use"))
    sup = await login(client, "lakeside")
    cid = (await _case(client, sup))["id"]
    r = await client.post(
        f"/cases/{cid}/false-alarm", headers=sup, json={"note": "a thermometer, not a phone"}
    )
    assert r.json()["status"] == "closed" and r.json()["verdict"] == "false_alarm"
    # A repeat after the verdict opens a new case rather than reviving the closed one.
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "phone_use", offset_s=30))
    await eventually(lambda: _total(client, sup, 2))


async def _total(client: httpx.AsyncClient, h: dict[str, str], n: int) -> bool:
    return (await client.get("/cases", headers=h)).json()["total"] == n


async def test_overdue_yellow_then_red_escalates_one_level_up(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "trash_bin_open"))
    sup = await login(client, "north")
    case = await _case(client, sup)
    clock.advance(timedelta(hours=30))  # not dispatched: no deadline runs yet
    assert (await sweep_once(service.ctx))["yellow"] == 0
    assert (await client.post(f"/cases/{case['id']}/dispatch", headers=sup)).status_code == 200
    assert (await sweep_once(service.ctx))["yellow"] == 0
    clock.advance(timedelta(hours=24, minutes=1))  # Class II deadline is 24 h from dispatch
    assert (await sweep_once(service.ctx))["yellow"] == 1
    assert (await sweep_once(service.ctx))["yellow"] == 0  # carded once
    clock.advance(timedelta(hours=24))
    assert (await sweep_once(service.ctx))["red"] == 1
    detail = (await client.get(f"/cases/{case['id']}", headers=sup)).json()
    assert detail["card_level"] == 2 and detail["escalated_to"] == "/minghu/lakeside"
    escalated = [n for n in await _notifications(service) if n.template == "case_escalated"]
    # The district, not the township who had it (never back to the same person); the site is told.
    assert {n.recipient_id for n in escalated} == {"minghu:lakeside", "minghu:manager"}
    assert all(n.urgent for n in escalated)


async def test_complaint_sourced_case(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for n in range(2):  # complaints never aggregate: each is its own case
        e = ComplaintFiled(
            meta=new_meta(
                tenant_id="minghu", key="hillview-noodle", producer="public-api", occurred_at=clock.now()
            ),
            complaint_id=f"c-{n}",
            site_id="hillview-noodle",
            category="hygiene",
            text="hair in the noodles",
            reporter_id="anon-1",
        )
        await service.ctx.runtime.bus.publish("complaints.v1", e)
    sup = await login(client, "hillview")
    await eventually(lambda: _total(client, sup, 2))
    case = await _case(client, sup, source="complaint")
    assert case["case_type"] == "complaint_hygiene" and case["risk_class"] == 2
    boss = await login(client, "noodleboss")
    assert (await client.post(f"/cases/{case['id']}/dispatch", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{case['id']}/acknowledge", headers=boss)).status_code == 200
    assert (await _rectify(client, case["id"], boss, "kitchen cleaned")).status_code == 200
    assert (await client.post(f"/cases/{case['id']}/approve", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{case['id']}/close", headers=sup)).json()["verdict"] == "confirmed"


async def test_cooldown_turns_flood_into_digest_but_never_holds_class_i(
    service: CaseService, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    for i, vtype in enumerate(["no_mask", "no_gloves", "no_uniform", "rodent"]):
        await bus.publish("detections.v1", detection(clock, vtype, offset_s=i))

    async def four_cases():
        async with service.db.session() as s:
            from bk_cases.cases.models import Case

            return len((await s.scalars(select(Case))).all()) == 4

    await eventually(four_cases)
    to_manager = [n for n in await _notifications(service) if n.recipient_id == "minghu:manager"]
    assert any(n.urgent for n in to_manager)  # the rodent got through the cooldown
    assert sum(n.template == "case_created" and not n.urgent for n in to_manager) == 1  # the rest held
    clock.advance(timedelta(minutes=11))
    assert (await sweep_once(service.ctx))["digests"] >= 1
    digests = [
        n
        for n in await _notifications(service)
        if n.recipient_id == "minghu:manager" and n.template == "digest"
    ]
    assert digests and digests[0].digest_count == 2


async def test_audit_tampering_is_detected(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for vtype in ("smoking", "rodent"):
        await service.ctx.runtime.bus.publish("detections.v1", detection(clock, vtype))
    admin = await login(client, "admin")
    await eventually(lambda: _total(client, admin, 2))
    assert (await client.get("/audit/verify", headers=admin)).json()["ok"]
    async with service.db.session() as s:  # edit one row
        await s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor_id="mallory"))
    report = (await client.get("/audit/verify", headers=admin)).json()
    assert not report["ok"] and any("edited" in p for p in report["problems"])
    async with service.db.session() as s:  # restore, then delete a middle row
        await s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor_id="system"))
        assert (await audit.verify(db_session=s, tenant_id="minghu")).ok
        await s.delete(await s.get(AuditEntry, ("minghu", 2)))
    report = (await client.get("/audit/verify", headers=admin)).json()
    assert not report["ok"] and any("missing" in p for p in report["problems"])
    async with service.db.session() as s:  # truncating the tail is caught by the head
        last = max((await s.scalars(select(AuditEntry.seq))).all())
        await s.delete(await s.get(AuditEntry, ("minghu", last)))
        assert any("head" in p for p in (await audit.verify(db_session=s, tenant_id="minghu")).problems)


async def test_verify_audit_command_exits_1_on_a_tampered_chain(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, tmp_path
) -> None:
    """``python -m bk_cases verify-audit`` — what an operator runs — fails on an edited row."""
    import os
    import subprocess
    import sys

    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "smoking"))
    admin = await login(client, "admin")
    await eventually(lambda: _total(client, admin, 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BK_")}
    env.update(BK_DATA_DIR=str(tmp_path), BK_LOG_JSON="false")

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bk_cases", "verify-audit", "minghu"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = verify()
    assert ok.returncode == 0 and "minghu: ok" in ok.stdout, ok.stdout + ok.stderr
    async with service.db.session() as s:
        await s.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor_id="mallory"))
    broken = verify()
    assert broken.returncode == 1 and "minghu: BROKEN" in broken.stdout, broken.stdout + broken.stderr
