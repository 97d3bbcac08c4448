"""Bureau supervisors register and edit the cameras of their subtree's sites (#18), and no others:
the site's place comes from the directory (directory.v1), not from the org_path the caller sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from gateway_helpers import runtime, settings, token

from bk_gateway.service import GatewayService, create_service
from bkcore.auth import Role
from bkcore.bus.base import new_meta
from bkproto.events.v1.directory_pb2 import DirectoryChanged, DirectoryKind, SiteState

T = "minghu"
NORTH, HILL = "north-school", "hill-noodle"


def site_event(site_id: str, org_path: str, version: int = 1) -> DirectoryChanged:
    return DirectoryChanged(
        meta=new_meta(tenant_id=T, key=f"site:{site_id}", producer="test"),
        kind=DirectoryKind.DIRECTORY_KIND_SITE,
        entity_id=site_id,
        version=version,
        site=SiteState(
            name=site_id, kind="restaurant", org_id=org_path.rsplit("/", 1)[-1], org_path=org_path
        ),
    )


def body(camera_id: str, site_id: str, org_path: str = "/") -> dict[str, str]:
    return {
        "id": camera_id,
        "site_id": site_id,
        "org_path": org_path,
        "zone": "cooking",
        "source_url": "sim:cooking",
    }


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[tuple[GatewayService, httpx.AsyncClient]]:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        async with svc.db.session() as s:
            await svc.directory.apply(s, site_event(NORTH, "/minghu/lakeside/north"))
            await svc.directory.apply(s, site_event(HILL, "/minghu/hillview"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://gw") as c:
            yield svc, c
    finally:
        await svc.stop()
        await rt.bus.stop()


async def test_supervisors_write_cameras_of_their_subtree_only(
    gw: tuple[GatewayService, httpx.AsyncClient],
) -> None:
    svc, c = gw
    rt = svc.runtime
    admin = token(rt, Role.PLATFORM_ADMIN)
    lakeside = token(rt, Role.SUPERVISOR, org_path="/minghu/lakeside")
    manager = token(rt, Role.SITE_MANAGER, site_ids=frozenset({NORTH}))

    r = await c.put("/v1/cameras/north-1", json=body("north-1", NORTH), headers=lakeside)
    assert r.status_code == 200, r.text
    assert r.json()["org_path"] == "/minghu/lakeside/north"  # the directory's place, not the body's "/"
    r = await c.post("/v1/cameras", json=body("north-2", NORTH), headers=lakeside)
    assert r.status_code == 201, r.text
    r = await c.patch("/v1/cameras/north-1", json={"name": "热厨 1 号", "zone": "prep"}, headers=lakeside)
    assert r.status_code == 200 and r.json()["name"] == "热厨 1 号"
    assert (await c.delete("/v1/cameras/north-2", headers=lakeside)).status_code == 204

    # Another district's site: refused even when the caller claims an org path in their subtree.
    lie = body("hill-x", HILL, "/minghu/lakeside/north")
    assert (await c.put("/v1/cameras/hill-x", json=lie, headers=lakeside)).status_code == 403
    assert (await c.post("/v1/cameras", json=lie, headers=lakeside)).status_code == 403
    assert (await c.get("/v1/cameras/hill-x", headers=admin)).status_code == 404
    # Another district's camera: not found to patch or delete, and cannot be taken over by PUT.
    assert (await c.put("/v1/cameras/hill-1", json=body("hill-1", HILL), headers=admin)).status_code == 200
    assert (await c.patch("/v1/cameras/hill-1", json={"name": "x"}, headers=lakeside)).status_code == 404
    assert (await c.delete("/v1/cameras/hill-1", headers=lakeside)).status_code == 404
    assert (
        await c.put("/v1/cameras/hill-1", json=body("hill-1", NORTH), headers=lakeside)
    ).status_code == 403
    kept = (await c.get("/v1/cameras/hill-1", headers=admin)).json()
    assert kept["site_id"] == HILL and kept["name"] == ""
    # Site staff register nothing.
    assert (await c.put("/v1/cameras/m-1", json=body("m-1", NORTH), headers=manager)).status_code == 403
    assert sorted(x["id"] for x in (await c.get("/v1/cameras", headers=lakeside)).json()) == ["north-1"]
