"""Rectification photos are judged by their bytes (#17.2): the red-team's uploads, and what they get."""

from __future__ import annotations

from pathlib import Path

import httpx
from cm_testkit import detection, eventually, login

from bk_cases.service import CaseService
from bkcore.clock import FakeClock
from bkcore.testing.pictures import jpeg, png_bomb


async def _acknowledged_case(client: httpx.AsyncClient, service: CaseService, clock: FakeClock) -> str:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "no_mask"))
    sup, mgr = await login(client, "north"), await login(client, "manager")

    async def found():  # type: ignore[no-untyped-def]
        page = (await client.get("/cases", headers=sup)).json()
        return page["items"][0]["id"] if page["total"] else None

    cid = await eventually(found)
    assert (await client.post(f"/cases/{cid}/dispatch", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{cid}/acknowledge", headers=mgr)).status_code == 200
    return str(cid)


def _stored(tmp_path: Path) -> list[Path]:
    root = tmp_path / "objects"
    return [
        p for p in root.rglob("*") if p.is_file() and ".meta" not in p.parts and "rectifications" in str(p)
    ]


async def test_a_photo_that_is_not_a_picture_is_refused_naming_it(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cid = await _acknowledged_case(client, service, clock)
    mgr = await login(client, "manager")
    attacks = [
        (b"MZ\x90\x00 not a photo at all", "not_image"),  # declared image/jpeg: the bytes decide
        (b"\xff\xd8\xff\xe0 starts like a JPEG, is not one", "corrupt"),
        (jpeg((640, 480))[:900], "corrupt"),  # truncated mid-picture
        (png_bomb(), "too_many_pixels"),  # ~25 KB claiming 10000x10000: refused from its header
    ]
    for data, kind in attacks:
        files = [("photos", ("ok.jpg", jpeg(), "image/jpeg")), ("photos", ("after.jpg", data, "image/jpeg"))]
        r = await client.post(f"/cases/{cid}/rectifications", headers=mgr, data={"note": "x"}, files=files)
        assert r.status_code == 422, (kind, r.text)
        err = r.json()["detail"][0]
        assert err["loc"] == ["body", "photos", 1] and err["type"] == kind and err["msg"], err
    assert _stored(tmp_path) == []  # nothing of a refused submission was kept
    assert (await client.get(f"/cases/{cid}", headers=mgr)).json()["status"] == "acknowledged"


async def test_a_real_photo_is_stored_by_its_own_type(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cid = await _acknowledged_case(client, service, clock)
    mgr = await login(client, "manager")
    files = [("photos", ("after.png", jpeg(), "image/png"))]  # mislabelled: it is a JPEG
    r = await client.post(f"/cases/{cid}/rectifications", headers=mgr, data={"note": "x"}, files=files)
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    (stored,) = _stored(tmp_path)
    assert stored.suffix == ".jpg"
