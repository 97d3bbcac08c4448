"""Camera alarms (camera.status.v1) become cases: a profile a detector refused is one, graded II, and
its clearing is noted on the case (closing stays a supervisor's call)."""

from __future__ import annotations

import httpx
import pytest
from cm_testkit import eventually, login

from bk_cases.service import CaseService
from bkcore.bus.base import new_meta
from bkcore.clock import FakeClock
from bkproto.events.v1 import camera_status_pb2 as ev

CAMERA, SITE = "lakeside-primary-prep", "lakeside-primary"


def alarm(clock: FakeClock, kind: int, *, active: bool, reason: str) -> ev.CameraStatusChanged:
    return ev.CameraStatusChanged(
        meta=new_meta(tenant_id="minghu", key=CAMERA, producer="stream-gateway", occurred_at=clock.now()),
        site_id=SITE, camera_id=CAMERA, zone="prep", state=ev.CAMERA_STATE_ONLINE,
        previous_state=ev.CAMERA_STATE_ONLINE, alarm=kind, alarm_active=active, reason=reason,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "case_type"),
    [(ev.CAMERA_ALARM_PROFILE_REFUSED, "camera_profile_refused"), (ev.CAMERA_ALARM_FROZEN, "camera_frozen")],
)
async def test_a_camera_alarm_opens_a_case_and_its_clearing_is_noted(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, kind: int, case_type: str
) -> None:
    bus = service.ctx.runtime.bus
    why = "profile_refused raised: version 4: rules[2].violation_type: unknown rule 'no_hats'"
    await bus.publish("camera.status.v1", alarm(clock, kind, active=True, reason=why))
    sup = await login(client, "north")

    async def opened() -> dict | None:
        page = (await client.get("/cases", headers=sup, params={"case_type": case_type})).json()
        return page["items"][0] if page["total"] else None

    case = await eventually(opened)
    assert case["source"] == "camera" and case["risk_class"] == 2 and case["camera_id"] == CAMERA
    await bus.publish("camera.status.v1", alarm(clock, kind, active=False, reason="version 5 accepted"))

    async def cleared() -> dict | None:
        detail = (await client.get(f"/cases/{case['id']}", headers=sup)).json()
        return detail if any(e["action"] == "cleared" for e in detail["timeline"]) else None

    detail = await eventually(cleared)
    assert detail["status"] != "closed"  # the condition ended; a supervisor closes the case
