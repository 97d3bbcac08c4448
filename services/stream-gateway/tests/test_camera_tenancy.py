"""Camera ids are unique per tenant, written as the attacks: tenant B probes and squats tenant A's
camera id, asks for its snapshot, live view, status, changes or deletes it, names A's tenant in the
query, and reuses A's signed play URL under its own tenant. Each gets what an unknown id gets, and
A's camera is untouched; B's own camera of the same id is B's alone."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
from gateway_helpers import runtime, settings, token, until

from bk_gateway.service import create_service
from bkcore.auth import STREAM_GATEWAY, Role, Scope
from bkcore.testing.tokens import service_principal

A, B = "minghu", "riverside"
CAM = "kitchen-1"


async def test_another_tenants_camera_is_indistinguishable_from_none(tmp_path: Path) -> None:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras([{"id": CAM, "tenant_id": A, "site_id": "s1", "zone": "cooking",
                                 "name": "A's kitchen", "scenario": "pattern-a"}])  # fmt: skip
        await until(lambda: svc.fleet.workers[(A, CAM)].latest is not None, 10, "a frame of A's camera")
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            a = token(rt, Role.PLATFORM_ADMIN, tenant=A)
            b = token(rt, Role.PLATFORM_ADMIN, tenant=B)
            assert (await c.get(f"/v1/cameras/{CAM}/snapshot.jpg", headers=a)).status_code == 200
            a_live = (await c.post(f"/v1/cameras/{CAM}/live", headers=a)).json()

            # Every read or write of A's id by B answers exactly what an id nobody has answers.
            probes = [
                ("GET", "{}", None), ("GET", "{}/status", None), ("GET", "{}/snapshot.jpg", None),
                ("POST", "{}/live", None), ("PATCH", "{}", {"name": "mine now"}), ("DELETE", "{}", None),
                ("GET", "{}?tenant_id=" + A, None), ("GET", "{}/snapshot.jpg?tenant_id=" + A, None),
            ]  # fmt: skip
            for method, path, body in probes:
                theirs = await c.request(method, "/v1/cameras/" + path.format(CAM), json=body, headers=b)
                nobodys = await c.request(method, "/v1/cameras/" + path.format("no-such-cam"), json=body,
                                          headers=b)  # fmt: skip
                assert theirs.status_code == nobodys.status_code == 404, (method, path, theirs.text)
                assert theirs.json() == nobodys.json()
            assert [x["id"] for x in (await c.get("/v1/cameras", headers=b)).json()] == []

            # Squatting: B's PUT of the same id makes B's own camera (no 409 telling it is taken)...
            mine = {
                "id": CAM,
                "site_id": "b1",
                "zone": "prep",
                "name": "B's kitchen",
                "source_url": "sim:cooking",
            }
            r = await c.put(f"/v1/cameras/{CAM}", json=mine, headers=b)
            assert r.status_code == 200 and r.json()["tenant_id"] == B, r.text
            r = await c.post("/v1/cameras", json=dict(mine, id="kitchen-2"), headers=b)
            assert r.status_code == 201
            # ...and A's camera is untouched: its name, site, source, and its pull worker.
            r = await c.get(f"/v1/cameras/{CAM}", headers=a)
            assert (r.json()["name"], r.json()["site_id"], r.json()["source_url"]) == (
                "A's kitchen",
                "s1",
                "sim:pattern-a",
            )
            await until(lambda: (B, CAM) in svc.fleet.workers, 10, "B's own worker")
            assert svc.fleet.workers[(A, CAM)].spec.source_url == "sim:pattern-a"
            assert (await c.get(f"/v1/cameras/{CAM}", headers=b)).json()["name"] == "B's kitchen"
            # B deleting "its" camera deletes its own, never A's.
            assert (await c.delete(f"/v1/cameras/{CAM}", headers=b)).status_code == 204
            assert (await c.get(f"/v1/cameras/{CAM}", headers=a)).status_code == 200

            # A's signed play URL names A's tenant: moved under B's tenant, the signature fails.
            hls = urlsplit(a_live["hls_url"])
            assert hls.path == f"/v1/live/{A}/{CAM}/index.m3u8"
            forged = hls.path.replace(f"/{A}/", f"/{B}/") + "?" + hls.query
            assert (await c.get(forged)).status_code == 403
            snap = urlsplit(a_live["snapshot_url"])
            assert (await c.get(snap.path.replace(f"/{A}/", f"/{B}/") + "?" + snap.query)).status_code == 403

            # An all-tenant service names the tenant it means; a tenant-less write is refused.
            ops = service_principal("ops", "*", Scope.CAMERAS_READ, Scope.CAMERAS_WRITE)
            svc_all = {"Authorization": f"Bearer {rt.tokens.issue(ops, audience=[STREAM_GATEWAY])}"}
            assert (await c.get(f"/v1/cameras/{CAM}?tenant_id={A}", headers=svc_all)).json()["tenant_id"] == A
            assert (await c.get(f"/v1/cameras/{CAM}", headers=svc_all)).status_code == 404
            r = await c.put(f"/v1/cameras/{CAM}", json=mine, headers=svc_all)
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "tenant_id"]
    finally:
        await svc.stop()
        await rt.bus.stop()
