"""cases.v1 → read model (once) → scoped console reads; the alarm stream; closed cases for parents."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import numpy as np
from PIL import Image
from public_helpers import TENANT, invite, parent_login, staff_token

from bk_public.alarms import sse_stream
from bk_public.faces.evaluation import REAL_SET, face_blurred
from bkcore.auth import Principal, Role
from bkcore.bus.base import new_meta
from bkproto.events.v1.cases_pb2 import CaseChanged


def case_event(
    case_id: str,
    status: str,
    *,
    site: str = "s1",
    org: str = "/minghu/lakeside",
    when=None,
    snapshot: str = "",
    event_id: str | None = None,
) -> CaseChanged:
    return CaseChanged(
        meta=new_meta(tenant_id=TENANT, key=case_id, producer="test", occurred_at=when, event_id=event_id),
        case_id=case_id,
        site_id=site,
        org_path=org,
        case_type="no_chef_hat",
        risk_class=3,
        status=status,
        action="created" if status == "new" else "approve",
        snapshot_key=snapshot,
        occurrences=1,
    )


async def wait_for(cond, limit_s: float = 3.0) -> None:
    for _ in range(int(limit_s / 0.02)):
        if await cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_read_model_scoped_and_deduped(client, svc, clock):
    bus = svc.runtime.bus
    ev = case_event("k1", "new", when=clock.now())
    await bus.publish("cases.v1", ev)
    await bus.publish("cases.v1", ev)  # redelivery: one row, one timeline entry
    await bus.publish(
        "cases.v1", case_event("k2", "new", site="s2", org="/minghu/hillview", when=clock.now())
    )
    city, lakeside = staff_token(svc), staff_token(svc, org="/minghu/lakeside")

    async def both() -> bool:
        return len((await client.get("/console/cases", headers=city)).json()) == 2

    await wait_for(both)
    assert [c["case_id"] for c in (await client.get("/console/cases", headers=lakeside)).json()] == ["k1"]
    assert (await client.get("/console/cases/k2", headers=lakeside)).status_code == 404
    manager = staff_token(svc, Role.SITE_MANAGER, sites=frozenset({"s2"}))
    assert [c["case_id"] for c in (await client.get("/console/cases", headers=manager)).json()] == ["k2"]
    assert len((await client.get("/console/cases/k1/timeline", headers=city)).json()) == 1
    # Statistics are the case-manager's (/api/cases/stats): the public-api keeps no second formula.
    assert (await client.get("/console/stats", headers=city)).status_code == 404
    sites = {m["site_id"]: m for m in (await client.get("/console/map", headers=city)).json()}
    assert sites["s1"]["open_cases"] == 1 and sites["s1"]["latitude"] == 30.27
    parent = await parent_login(client)
    assert (await client.get("/console/cases", headers=parent)).status_code == 403


async def test_alarm_stream_pushes_only_visible_cases(svc, clock):
    lakeside = Principal(subject="u", tenant_id=TENANT, role=Role.SUPERVISOR, org_path="/minghu/lakeside")
    stream = sse_stream(svc.ctx.hub, lakeside, heartbeat_s=5)
    assert b"hello" in await anext(stream)
    await svc.runtime.bus.publish(
        "cases.v1", case_event("k9", "new", site="s2", org="/minghu/hillview", when=clock.now())
    )
    await svc.runtime.bus.publish("cases.v1", case_event("k8", "new", when=clock.now()))
    frame = await asyncio.wait_for(anext(stream), 3)
    assert b'"case_id": "k8"' in frame and b"k9" not in frame
    await stream.aclose()


async def test_parent_sees_closed_case_with_blurred_pictures(client, svc, clock):
    # A real face (NASA's portrait of Eileen Collins, from the real-photo set), labelled by hand.
    img = Image.open(REAL_SET / "images" / "astronaut.png").convert("RGB")
    face = (183, 80, 90, 96)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    store = svc.runtime.store
    await store.put("minghu/evidence/k5.jpg", buf.getvalue(), "image/jpeg")
    await store.put("minghu/rect/k5.jpg", buf.getvalue(), "image/jpeg")
    svc.ctx.upstream.cases["k5"] = {"rectifications": [{"photo_keys": ["minghu/rect/k5.jpg"]}]}
    await svc.runtime.bus.publish(
        "cases.v1", case_event("k5", "new", when=clock.now(), snapshot="minghu/evidence/k5.jpg")
    )
    await svc.runtime.bus.publish(
        "cases.v1", case_event("k5", "closed", when=clock.now() + timedelta(minutes=5))
    )
    h = await parent_login(client)
    await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)

    async def closed() -> bool:
        svc.ctx.cache.invalidate()
        return len((await client.get("/sites/s1/cases", headers=h)).json()) == 1

    await wait_for(closed)
    case = (await client.get("/sites/s1/cases", headers=h)).json()[0]
    assert "/public/blurred/" in case["before_url"] and "/public/blurred/" in case["after_url"]
    key = case["before_url"].split("/objects/")[1].split("?")[0]
    blurred = np.asarray(Image.open(io.BytesIO(await store.get(key))).convert("RGB"))
    sent = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert face_blurred(sent, blurred, face)  # the face lost its detail everywhere in its box
    corner = (slice(400, 512), slice(380, 512))  # the suit and background: JPEG-close, not blurred
    assert np.abs(sent[corner].astype(int) - blurred[corner].astype(int)).mean() < 3
    # The score is the case-manager's (site_scores.v1); none published here, none made up.
    assert (await client.get("/sites/s1/score", headers=h)).json()["score"] is None


async def test_public_reads(client, svc):
    await svc.seed_demo(tenant_id=TENANT, site_ids=["s1", "s2"])
    notes = (await client.get("/public/notices")).json()
    assert {n["kind"] for n in notes} == {"notice", "tip"}
    rb = await client.get("/public/red-black")
    assert rb.status_code == 200 and "public" in rb.headers["cache-control"]
    kiosk = (await client.get("/public/kiosk/s1")).json()
    assert kiosk["site"]["name"] == "一小食堂" and "陈强" not in str(kiosk)
    assert (await client.get("/public/kiosk/nope")).status_code == 404
