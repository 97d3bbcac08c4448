"""The gateway keeps the case-manager's directory as a read model (directory.v1, #18.2): a camera sits
where its site sits in the org tree, whatever org path it was registered with; a moved site takes its
cameras along (the old unit's supervisor loses them, the new one gains them); a deactivated user is
refused on an unexpired token."""

from __future__ import annotations

from pathlib import Path

import httpx
from gateway_helpers import runtime, settings

from bk_gateway.service import create_service
from bkcore.auth import Principal, Role
from bkcore.testing.directory import DirSite, eventually, publish, site_event, user_event

TENANT, CAM = "dirtown", "east-prep"
EAST = DirSite("east-school", "East School", "school_canteen", "/dirtown/east")
WEST = DirSite("east-school", "East School", "school_canteen", "/dirtown/west")


async def test_cameras_follow_their_site_and_staff_follow_the_directory(tmp_path: Path) -> None:
    rt = runtime(settings(tmp_path, directory_check_ttl_s=0.0))
    svc = create_service(rt)
    await svc.start()
    await rt.bus.start()
    try:
        await publish(
            rt.bus,
            [
                site_event(TENANT, EAST),
                user_event(TENANT, "dirtown:eastsup", role="supervisor", org_path="/dirtown/east"),
                user_event(TENANT, "dirtown:westsup", role="supervisor", org_path="/dirtown/west"),
            ],
        )

        async def known() -> bool:
            return await svc.directory.known_sites(tenant_id=TENANT, site_ids={EAST.site_id}) == {
                EAST.site_id
            }

        await eventually(known, what="the gateway's read model holds the site")
        await svc.seed_cameras(
            [
                {
                    "id": CAM,
                    "tenant_id": TENANT,
                    "site_id": EAST.site_id,
                    "org_path": "/dirtown/stale",
                    "zone": "prep",
                    "name": "prep",
                    "source_url": "sim:kitchen",
                    "enabled": False,
                }
            ]
        )

        def bearer(user: str, org: str) -> dict[str, str]:
            p = Principal(f"dirtown:{user}", TENANT, Role.SUPERVISOR, org_path=org)
            return {"Authorization": f"Bearer {rt.tokens.issue(p)}"}

        # Tokens issued before every change below; the directory decides, not their claims.
        east, west = bearer("eastsup", "/dirtown/east"), bearer("westsup", "/dirtown/west")
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:

            async def sees(headers: dict[str, str]) -> int:
                return (await c.get(f"/v1/cameras/{CAM}", headers=headers)).status_code

            assert (await sees(east), await sees(west)) == (200, 404)  # the stale path was corrected

            await publish(rt.bus, [site_event(TENANT, WEST, version=2)])

            async def moved() -> bool:
                return (await sees(east), await sees(west)) == (404, 200)

            await eventually(moved, what="the moved site's camera changed hands")
            await publish(rt.bus, [site_event(TENANT, EAST, version=1)])  # late: changes nothing
            await publish(
                rt.bus, [user_event(TENANT, "dirtown:westsup", role="supervisor", active=False, version=2)]
            )

            async def refused() -> bool:
                return await sees(west) == 401

            await eventually(refused, what="the deactivated supervisor is refused")
            assert (await c.get("/v1/cameras", headers=west)).status_code == 401
            assert await sees(east) == 404  # the late event did not move the site back
    finally:
        await rt.bus.stop()
        await svc.stop()
