"""A new tenant from nothing, through the platform's APIs only (#18): the operator opens it; its
platform admin builds the org tree, a site with zones, a camera's place and users with phones; its
district supervisor registers the camera's stream in the gateway, which knows the new site from
directory.v1 alone (no seed) and places the camera there; the site manager then sees that camera and
only that site, in the case-manager and in the gateway."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bkcore.settings import CoreSettings
from bkcore.testing.directory import eventually
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e
T = "riverbend"
SITE, CAMERA = "rb-east-primary", "rb-east-primary-cooking"
WAIT_S = 60.0  # generous: the machine is shared


async def _token(client: httpx.AsyncClient, username: str, password: str, tenant: str) -> dict[str, str]:
    r = await client.post(
        "/api/cases/auth/login", json={"username": username, "password": password, "tenant_id": tenant}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, (r.request.url, r.status_code, r.text)
    return r.json()  # type: ignore[no-any-return]


async def test_a_new_tenant_from_nothing_across_the_services(tmp_path: Path) -> None:
    options = PlatformOptions(port=0, simulated_cameras=False)
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        httpx.AsyncClient(base_url=platform.base_url, timeout=30) as c,
    ):
        operator = await _token(c, "admin", "demo-admin", "minghu")
        tenant = {
            "id": T,
            "name": "河湾市 Riverbend",
            "admin": {"username": "rb-admin", "name": "河湾平台管理员", "password": "rb-admin-pass"},
        }
        await _ok(await c.post("/api/cases/tenants", headers=operator, json=tenant), 201)
        admin = await _token(c, "rb-admin", "rb-admin-pass", T)
        cases = "/api/cases"
        for unit in (
            {"id": "riverbend", "name": "河湾市市场监管局", "kind": "city"},
            {"id": "rb-east", "name": "东湾区", "kind": "district", "parent_id": "riverbend"},
            {"id": "rb-east-1", "name": "东湾街道", "kind": "township", "parent_id": "rb-east"},
        ):
            await _ok(await c.post(f"{cases}/org-units", headers=admin, json=unit), 201)
        site = {
            "id": SITE,
            "name": "东湾一小食堂",
            "kind": "school_canteen",
            "org_id": "rb-east-1",
            "latitude": 31.2,
            "longitude": 121.4,
            "opening_hours": "06:30-19:30",
            "zones": [{"zone": "prep"}, {"zone": "cooking"}],
        }
        await _ok(await c.post(f"{cases}/sites", headers=admin, json=site), 201)
        await _ok(
            await c.put(
                f"{cases}/sites/{SITE}/cameras/{CAMERA}",
                headers=admin,
                json={"zone": "cooking", "name": "热厨"},
            )
        )
        users = (
            {"username": "rb-chief", "name": "东湾区 赵科长", "role": "supervisor", "org_id": "rb-east",
             "phone": "13900000001", "password": "rb-chief-pass"},
            {"username": "rb-manager", "name": "东湾一小 钱经理", "role": "site_manager", "site_ids": [SITE],
             "phone": "+86 139 0000 0002", "wechat_openid": "oRB_manager_openid_0001",
             "password": "rb-manager-pass"},
        )  # fmt: skip
        for user in users:
            made = await _ok(await c.post(f"{cases}/users", headers=admin, json=user), 201)
            assert made["phone"].startswith("+86139000000")

        # The district supervisor registers the stream; the gateway learns the site from directory.v1.
        chief = await _token(c, "rb-chief", "rb-chief-pass", T)
        camera = {
            "id": CAMERA,
            "site_id": SITE,
            "org_path": "/",
            "zone": "cooking",
            "source_url": "sim:cooking",
        }

        answers: list[httpx.Response] = []

        async def registered() -> bool:
            answers.append(await c.put(f"/api/gateway/v1/cameras/{CAMERA}", headers=chief, json=camera))
            return answers[-1].status_code == 200

        await eventually(registered, timeout_s=WAIT_S, what="the gateway to know the new site")
        assert {r.status_code for r in answers} <= {200, 403}  # 403 until directory.v1 arrives
        placed = answers[-1].json()
        assert placed["org_path"] == "/riverbend/rb-east/rb-east-1" and placed["tenant_id"] == T

        manager = await _token(c, "rb-manager", "rb-manager-pass", T)
        assert [x["id"] for x in await _ok(await c.get("/api/gateway/v1/cameras", headers=manager))] == [
            CAMERA
        ]
        mine = await _ok(await c.get(f"{cases}/sites/{SITE}", headers=manager))
        assert mine["cameras"] == [{"camera_id": CAMERA, "zone": "cooking", "name": "热厨"}]
        assert [s["id"] for s in await _ok(await c.get(f"{cases}/sites", headers=manager))] == [SITE]
        # The demo tenant's people see none of it.
        demo = await _token(c, "lakeside", "demo-lakeside", "minghu")
        assert (await c.get(f"/api/gateway/v1/cameras/{CAMERA}", headers=demo)).status_code == 404
        assert (await c.get(f"{cases}/sites/{SITE}", headers=demo)).status_code == 404
