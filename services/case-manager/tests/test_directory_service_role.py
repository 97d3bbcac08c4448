"""The directory admits a tenant's service token (the public-api's reads), and only for that tenant."""

from __future__ import annotations

from cm_testkit import detection, eventually, login

from bk_cases.service import CaseService
from bkcore.auth import PUBLIC_API
from bkcore.service_tokens import SERVICE_IDENTITIES, LocalTokenSource


async def _service_headers(service: CaseService, tenant_id: str) -> dict[str, str]:
    # The very token the public-api gets from the issuer: its identity's scopes and audience.
    assert service.ctx.runtime.issuer is not None
    source = LocalTokenSource(service.ctx.runtime.issuer, SERVICE_IDENTITIES[PUBLIC_API])
    return {"Authorization": f"Bearer {await source.service_token(tenant_id)}"}


async def test_service_token_reads_sites_of_its_tenant(client, service) -> None:  # type: ignore[no-untyped-def]
    h = await _service_headers(service, "minghu")
    sites = await client.get("/sites", headers=h)
    assert sites.status_code == 200, sites.text
    assert "lakeside-primary" in {s["id"] for s in sites.json()}
    one = await client.get("/sites/lakeside-primary", headers=h)
    assert one.status_code == 200, one.text
    assert one.json()["cameras"], one.json()


async def test_service_token_of_another_tenant_sees_nothing(client, service) -> None:  # type: ignore[no-untyped-def]
    h = await _service_headers(service, "elsewhere")
    assert (await client.get("/sites", headers=h)).json() == []
    assert (await client.get("/sites/lakeside-primary", headers=h)).status_code == 404
    # Other staff routes still refuse machine callers.
    assert (await client.get("/org-units", headers=h)).status_code == 403


async def test_service_reads_a_case_of_its_tenant_but_may_not_act(  # type: ignore[no-untyped-def]
    client, service, clock
) -> None:
    """The public API reads cases (parents' before/after pictures) as a service of one tenant."""
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "smoking"))
    staff = await login(client, "lakeside")

    async def opened():  # type: ignore[no-untyped-def]
        return (await client.get("/cases", headers=staff)).json()["items"]

    case_id = (await eventually(opened))[0]["id"]
    mine, other = await _service_headers(service, "minghu"), await _service_headers(service, "elsewhere")
    r = await client.get(f"/cases/{case_id}", headers=mine)
    assert r.status_code == 200 and r.json()["id"] == case_id
    assert (await client.get(f"/cases/{case_id}", headers=other)).status_code == 404
    assert (await client.post(f"/cases/{case_id}/dispatch", json={}, headers=mine)).status_code == 403
