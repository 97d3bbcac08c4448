"""Helpers of the loop's tests (test_loop_*), which run on the shipped demo (``brightkitchen.demo_data``):
its township grid staff, district and city supervisors, education bureau and site managers."""

from __future__ import annotations

from datetime import datetime

import httpx
from cm_testkit import eventually
from sqlalchemy import select

from bk_cases.db import outbox
from bk_cases.service import CaseService
from bkcore.bus.base import new_meta
from bkcore.testing.pictures import jpeg
from bkproto.events.v1 import camera_status_pb2 as cam
from bkproto.events.v1.ledger_alerts_pb2 import LedgerAlert
from bkproto.events.v1.notifications_pb2 import NotificationRequested

TENANT = "minghu"
SCHOOL, RESTAURANT = "lakeside-primary", "hillview-noodle"  # /minghu/lakeside/north, /minghu/hillview


def ledger_alert(
    at: datetime,
    *,
    rule: str,
    ledger: str,
    subject: str,
    severity: str = "alarm",
    site: str = SCHOOL,
    active: bool = True,
    message: str = "",
) -> LedgerAlert:
    """A ``ledger.alerts.v1`` event as the ledger writes it (``bk_ledger.common.alerts.to_event``):
    its ``alert_id`` is ``ledger:rule:site:subject``, stable per condition."""
    return LedgerAlert(
        meta=new_meta(tenant_id=TENANT, key=site, producer="ledger", occurred_at=at),
        alert_id=f"{ledger}:{rule}:{site}:{subject}",
        site_id=site,
        ledger=ledger,
        rule=rule,
        severity=severity,
        active=active,
        message=message or f"{rule} {subject}",
        subject_id=subject,
    )


def camera_alarm(at: datetime, camera: str, *, active: bool, site: str = SCHOOL) -> cam.CameraStatusChanged:
    return cam.CameraStatusChanged(
        meta=new_meta(tenant_id=TENANT, key=camera, producer="stream-gateway", occurred_at=at),
        site_id=site,
        camera_id=camera,
        zone="prep",
        state=cam.CAMERA_STATE_OFFLINE if active else cam.CAMERA_STATE_ONLINE,
        previous_state=cam.CAMERA_STATE_ONLINE if active else cam.CAMERA_STATE_OFFLINE,
        alarm=cam.CAMERA_ALARM_OFFLINE,
        alarm_active=active,
        reason="no frames for 60 s" if active else "frames again",
    )


async def notifications(service: CaseService) -> list[NotificationRequested]:
    async with service.db.session() as s:
        rows = (await s.execute(select(outbox.c.payload).where(outbox.c.topic == "notifications.v1"))).all()
    return [NotificationRequested.FromString(r.payload) for r in rows]


async def recipients(service: CaseService, case_id: str, template: str) -> set[str]:
    return {
        n.recipient_id
        for n in await notifications(service)
        if n.case_id == case_id and n.template == template
    }


async def cases(client: httpx.AsyncClient, h: dict[str, str], **filters: str) -> list[dict]:
    r = await client.get("/cases", headers=h, params={"limit": "200", **filters})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def wait_cases(client: httpx.AsyncClient, h: dict[str, str], n: int, **filters: str) -> list[dict]:
    async def enough() -> list[dict] | None:
        found = await cases(client, h, **filters)
        return found if len(found) >= n else None

    return await eventually(enough)  # type: ignore[no-any-return]


async def detail(client: httpx.AsyncClient, h: dict[str, str], case_id: str) -> dict:
    r = await client.get(f"/cases/{case_id}", headers=h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def rectify(
    client: httpx.AsyncClient, h: dict[str, str], case_id: str, *, photos: int = 1
) -> httpx.Response:
    # multipart whatever the count: the note as a plain part, then the photos
    files = [
        ("note", (None, "fixed", None)),
        *(("photos", (f"a{i}.jpg", jpeg(), "image/jpeg")) for i in range(photos)),
    ]
    return await client.post(f"/cases/{case_id}/rectifications", headers=h, files=files)
