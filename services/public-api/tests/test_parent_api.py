"""The parents' API: login, binding, scoping, revocation, live URLs, ledgers, ratings, complaints."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from public_helpers import invite, parent_login, staff_token
from sqlalchemy import select

from bk_public.models import outbox
from bkcore.testing.pictures import jpeg


async def test_login_is_stable_per_code(client):
    a = await client.post("/auth/wx-login", json={"code": "mum-1"})
    b = await client.post("/auth/wx-login", json={"code": "mum-1"})
    assert a.json()["parent_id"] == b.json()["parent_id"]
    assert (await client.post("/auth/wx-login", json={"code": "x"})).status_code == 401


async def test_unbound_parent_sees_nothing(client, svc):
    h = await parent_login(client)
    assert (await client.get("/sites", headers=h)).json() == []
    for path in (
        "/sites/s1",
        "/sites/s1/snapshots",
        "/sites/s1/ledger/today",
        "/sites/s1/cases",
        "/sites/s1/score",
        "/sites/s1/cameras/s1-prep/live",
    ):
        assert (await client.get(path, headers=h)).status_code == 404, path
    assert (await client.post("/sites/s1/ratings", json={"score": "satisfied"}, headers=h)).status_code == 404


async def test_bind_then_read_only_the_bound_site(client, svc):
    h = await parent_login(client)
    code = await invite(client, svc, "s1")
    r = await client.post(
        "/bindings", json={"invite_code": code.lower(), "child_label": "三年级二班"}, headers=h
    )
    assert r.status_code == 201 and r.json()["site_id"] == "s1"
    sites = (await client.get("/sites", headers=h)).json()
    assert [s["id"] for s in sites] == ["s1"] and "contacts" not in sites[0] and sites[0]["open_now"]
    detail = (await client.get("/sites/s1", headers=h)).json()
    assert detail["zones"][0]["zone"] == "prep"
    assert (await client.get("/sites/s2", headers=h)).status_code == 404
    snaps = (await client.get("/sites/s1/snapshots", headers=h)).json()
    assert "/public/snapshots/s1-prep.jpg?" in snaps[0]["url"]


async def test_bad_codes_are_refused_alike(client, svc, clock):
    h = await parent_login(client)
    assert (await client.post("/bindings", json={"invite_code": "NOPE1234"}, headers=h)).status_code == 400
    code = await invite(client, svc, "s1")
    clock.advance(timedelta(days=31))
    assert (await client.post("/bindings", json={"invite_code": code}, headers=h)).status_code == 400


async def test_revoked_code_ends_access_at_once(client, svc):
    h = await parent_login(client)
    code = await invite(client, svc, "s1")
    await client.post("/bindings", json={"invite_code": code}, headers=h)
    assert (await client.get("/sites/s1/ledger/today", headers=h)).status_code == 200  # now cached
    assert (await client.delete(f"/admin/invite-codes/{code}", headers=staff_token(svc))).status_code == 204
    assert (await client.get("/sites/s1/ledger/today", headers=h)).status_code == 404
    assert (await client.get("/sites", headers=h)).json() == []
    assert (await client.post("/bindings", json={"invite_code": code}, headers=h)).status_code == 400


async def test_unbind(client, svc):
    h = await parent_login(client)
    code = await invite(client, svc, "s1")
    bid = (await client.post("/bindings", json={"invite_code": code}, headers=h)).json()["id"]
    other = await parent_login(client, "dad-2")
    assert (await client.delete(f"/bindings/{bid}", headers=other)).status_code == 404
    assert (await client.delete(f"/bindings/{bid}", headers=h)).status_code == 204
    assert (await client.get("/bindings", headers=h)).json() == []


async def test_live_urls_only_in_opening_hours_and_expire(client, svc, clock):
    h = await parent_login(client)
    for site in ("s1", "s2"):
        await client.post("/bindings", json={"invite_code": await invite(client, svc, site)}, headers=h)
    r = await client.get("/sites/s1/cameras/s1-prep/live", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["flv"].endswith("sig=x") and ".m3u8" in body["hls"]
    assert body["expires_at"] == (clock.now() + timedelta(seconds=svc.settings.play_url_ttl_s)).isoformat()
    assert (
        await client.get("/sites/s2/cameras/s2-cook/live", headers=h)
    ).status_code == 403  # closed at noon
    assert (
        await client.get("/sites/s1/cameras/s2-cook/live", headers=h)
    ).status_code == 404  # not its camera


async def test_ledger_publicity_has_no_personal_data(client, svc):
    h = await parent_login(client)
    await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)
    text = (await client.get("/sites/s1/ledger/today", headers=h)).text
    assert "陈强" not in text and "36.5" not in text and "李四" not in text and "青菜" in text


async def test_ledger_reads_are_cached(client, svc):
    h = await parent_login(client)
    await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)
    for _ in range(5):
        await client.get("/sites/s1/ledger/today", headers=h)
    assert svc.ctx.upstream.calls.count("ledger:s1") == 1


async def test_one_rating_per_day(client, svc, clock):
    h = await parent_login(client)
    await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)
    assert (await client.post("/sites/s1/ratings", json={"score": "satisfied"}, headers=h)).status_code == 201
    assert (await client.post("/sites/s1/ratings", json={"score": "neutral"}, headers=h)).status_code == 409
    assert (await client.get("/sites/s1/ratings/mine", headers=h)).json()["score"] == "satisfied"
    clock.advance(timedelta(days=1))
    assert (await client.post("/sites/s1/ratings", json={"score": "neutral"}, headers=h)).status_code == 201
    assert (await client.post("/sites/s1/ratings", json={"score": "meh"}, headers=h)).status_code == 422


async def test_complaint_with_photo_goes_out_on_the_bus(client, svc):
    got: list = []

    async def handler(d):
        got.append(d.event)

    svc.runtime.bus.subscribe("complaints.v1", "test", handler)
    h = await parent_login(client)
    await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)
    r = await client.post(
        "/sites/s1/complaints",
        data={"category": "hygiene", "text": "地面有积水"},
        files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))],
        headers=h,
    )
    assert r.status_code == 201, r.text
    await svc.ctx.relay.flush()
    for _ in range(50):
        if got:
            break
        await asyncio.sleep(0.02)
    assert got and got[0].site_id == "s1" and got[0].photo_keys[0].startswith("minghu/complaints/")
    assert got[0].reporter_id.startswith("p-")
    async with svc.db.session() as s:
        assert (await s.execute(select(outbox.c.published_at))).scalar() is not None
    bad = await client.post(
        "/sites/s1/complaints",
        data={"category": "hygiene", "text": "x"},
        files=[("photos", ("a.exe", b"MZ", "application/octet-stream"))],
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "not_image"


async def test_staff_tokens_are_not_parent_tokens(client, svc):
    assert (await client.get("/sites", headers=staff_token(svc))).status_code == 403
    assert (await client.get("/sites")).status_code == 401


async def test_rate_limit_per_parent(client, svc):
    svc.ctx.user_limit.per_min = 3
    svc.ctx.user_limit._buckets.clear()
    svc.ctx.user_limit._rate = 3 / 60
    h = await parent_login(client)
    codes = [(await client.get("/sites", headers=h)).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


async def test_rate_limit_per_ip(client, svc):
    from bk_public.ratelimit import RateLimiter

    svc.ctx.ip_limit = RateLimiter(2)
    codes = [(await client.get("/public/notices")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
