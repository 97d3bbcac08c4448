"""Every picture parents see goes through the face blur; a bad picture leaves a gap, never a 500.

The attacks of the red-team pass (#17.2): a stored "rectification photo" that is no picture made the
parents' closed-case page answer 500 every time; a ~100 KB PNG claiming 10000×10000 pixels took
gigabytes to blur. And camera stills reached parents raw (#16.8).
"""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
from PIL import Image
from public_helpers import invite, parent_login
from test_console_api import case_event, wait_for

from bk_public.faces.evaluation import REAL_SET, face_blurred
from bkcore.testing.pictures import jpeg, png_bomb

FACE = (183, 80, 90, 96)  # hand-labelled in the real-photo set


def astronaut_jpeg() -> tuple[bytes, np.ndarray]:
    buf = io.BytesIO()
    Image.open(REAL_SET / "images" / "astronaut.png").convert("RGB").save(buf, format="JPEG", quality=95)
    return buf.getvalue(), np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


async def _bound_parent(client, svc) -> dict[str, str]:  # type: ignore[no-untyped-def]
    h = await parent_login(client)
    r = await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)
    assert r.status_code == 201, r.text
    return h


async def _picture(svc, url: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    key = url.split("/objects/")[1].split("?")[0]
    return np.asarray(Image.open(io.BytesIO(await svc.runtime.store.get(key))).convert("RGB"))


async def test_camera_stills_reach_parents_with_faces_blurred(client, svc) -> None:  # type: ignore[no-untyped-def]
    frame, sent = astronaut_jpeg()
    svc.ctx.upstream.frames["s1-prep"] = frame
    h = await _bound_parent(client, svc)
    (snap,) = (await client.get("/sites/s1/snapshots", headers=h)).json()
    assert "/public/snapshots/s1-prep.jpg?" in snap["url"]
    assert face_blurred(sent, await _picture(svc, snap["url"]), FACE)
    live = (await client.get("/sites/s1/cameras/s1-prep/live", headers=h)).json()
    assert live["snapshot"] == snap["url"]  # the live view's still is the blurred one, not the gateway's


async def test_one_broken_camera_frame_leaves_a_gap(client, svc) -> None:  # type: ignore[no-untyped-def]
    svc.ctx.upstream.site_rows["s1"]["cameras"].append(
        {"camera_id": "s1-wash", "zone": "wash", "name": "洗消"}
    )
    svc.ctx.upstream.frames["s1-wash"] = b"<html>502 Bad Gateway</html>"
    h = await _bound_parent(client, svc)
    r = await client.get("/sites/s1/snapshots", headers=h)
    assert r.status_code == 200
    urls = {s["camera_id"]: s["url"] for s in r.json()}
    assert urls["s1-wash"] == "" and "/public/snapshots/s1-prep.jpg?" in urls["s1-prep"]


async def test_a_stored_photo_that_is_no_picture_never_breaks_the_closed_cases_page(
    client, svc, clock
) -> None:  # type: ignore[no-untyped-def]
    store = svc.runtime.store
    good, _ = astronaut_jpeg()
    # Stored before uploads were checked: a "rectification photo" that is a program, and a bomb.
    await store.put("minghu/rect/bad.jpg", b"MZ\x90\x00 not a picture", "image/jpeg")
    await store.put("minghu/evidence/bomb.png", png_bomb(), "image/png")
    await store.put("minghu/evidence/ok.jpg", good, "image/jpeg")
    svc.ctx.upstream.cases["k1"] = {"rectifications": [{"photo_keys": ["minghu/rect/bad.jpg"]}]}
    svc.ctx.upstream.cases["k2"] = {"rectifications": [{"photo_keys": ["minghu/evidence/ok.jpg"]}]}
    for cid, snapshot in (("k1", "minghu/evidence/ok.jpg"), ("k2", "minghu/evidence/bomb.png")):
        await svc.runtime.bus.publish("cases.v1", case_event(cid, "new", when=clock.now(), snapshot=snapshot))
        await svc.runtime.bus.publish(
            "cases.v1", case_event(cid, "closed", when=clock.now() + timedelta(minutes=5))
        )
    h = await _bound_parent(client, svc)

    async def both_closed() -> bool:
        svc.ctx.cache.invalidate()
        r = await client.get("/sites/s1/cases", headers=h)
        assert r.status_code == 200, r.text  # every time, not only once the cache is warm
        return len(r.json()) == 2

    await wait_for(both_closed, limit_s=60)
    cases = {c["case_id"]: c for c in (await client.get("/sites/s1/cases", headers=h)).json()}
    assert cases["k1"]["after_url"] == "" and "/public/blurred/" in cases["k1"]["before_url"]
    assert cases["k2"]["before_url"] == "" and "/public/blurred/" in cases["k2"]["after_url"]


async def test_complaint_photos_are_checked_before_anything_is_stored(client, svc) -> None:  # type: ignore[no-untyped-def]
    h = await _bound_parent(client, svc)
    for data, kind in ((png_bomb(), "too_many_pixels"), (b"\xff\xd8\xff\xe0 not really", "corrupt")):
        r = await client.post(
            "/sites/s1/complaints",
            data={"category": "hygiene", "text": "地面有积水"},
            files=[("photos", ("a.jpg", jpeg(), "image/jpeg")), ("photos", ("b.jpg", data, "image/jpeg"))],
            headers=h,
        )
        assert r.status_code == 422, r.text
        err = r.json()["detail"][0]
        assert err["loc"] == ["body", "photos", 1] and err["type"] == kind, err
    assert await svc.runtime.store.list("minghu/complaints/") == []
