"""The gateway under token attacks: a token for another audience, the public edge's read-scoped
service token on a write route, and signed play URLs re-spelt with a non-canonical expiry."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from gateway_helpers import runtime, settings, until

from bk_gateway.service import create_service
from bkcore.auth import PUBLIC_API, Principal, Role
from bkcore.service_tokens import SERVICE_IDENTITIES, LocalTokenSource

TENANT, CAM = "minghu", "kitchen-1"
BODY = {"id": CAM, "site_id": "s1", "zone": "prep", "name": "changed", "source_url": "sim:cooking"}


async def test_attack_tokens_for_others_and_non_canonical_play_urls(tmp_path: Path) -> None:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras([{"id": CAM, "tenant_id": TENANT, "site_id": "s1", "zone": "cooking",
                                 "name": "kitchen", "scenario": "pattern-a"}])  # fmt: skip
        await until(lambda: svc.fleet.workers[(TENANT, CAM)].latest is not None, 10, "a frame")
        assert rt.issuer is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://gw") as c:
            # A token made for the public edge (a parent's session; an admin minted for public-api):
            # the gateway is not its audience, so not even its write routes are reached.
            parent = rt.issuer.issue(Principal("p-1", TENANT, Role.PARENT))
            admin_for_edge = rt.issuer.issue(
                Principal("a", TENANT, Role.PLATFORM_ADMIN), audience=[PUBLIC_API]
            )
            for token in (parent, admin_for_edge):
                h = {"Authorization": f"Bearer {token}"}
                for method in ("PUT", "PATCH", "DELETE"):
                    r = await c.request(method, f"/v1/cameras/{CAM}", json=BODY, headers=h)
                    assert r.status_code == 401 and "not for 'stream-gateway'" in r.json()["detail"], r.text

            # The public-api's own service token: it may read and open a live view, never write.
            edge = LocalTokenSource(rt.issuer, SERVICE_IDENTITIES[PUBLIC_API])
            h = {"Authorization": f"Bearer {await edge.service_token(TENANT)}"}
            assert (await c.get(f"/v1/cameras/{CAM}/snapshot.jpg", headers=h)).status_code == 200
            live = await c.post(f"/v1/cameras/{CAM}/live", headers=h)
            assert live.status_code == 200, live.text
            for method in ("PUT", "PATCH", "DELETE"):
                r = await c.request(method, f"/v1/cameras/{CAM}", json=BODY, headers=h)
                assert r.status_code == 403 and "cameras:write" in r.json()["detail"], (method, r.text)
            assert (await c.post("/v1/cameras", json=dict(BODY, id="k-2"), headers=h)).status_code == 403

            # A signed snapshot URL, then the same link with its expiry spelt another way.
            snap = urlsplit(live.json()["snapshot_url"])
            q = {k: v[0] for k, v in parse_qs(snap.query).items()}
            assert (await c.get(snap.path, params=q)).status_code == 200
            exp = q["exp"]
            for spelt in (f"+{exp}", f"0{exp}", "1.7e9", f" {exp}", f"{int(exp):_}"):
                r = await c.get(snap.path + "?" + urlencode({**q, "exp": spelt}))
                assert r.status_code == 403, spelt
    finally:
        await svc.stop()
        await rt.bus.stop()
