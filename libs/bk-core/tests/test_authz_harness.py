"""The authorisation-matrix harness catches what it is for: a route without a row, a target served
outside the caller's scope, a refusal that differs by place, a list that names another's site."""

from __future__ import annotations

import httpx
from fastapi import Depends, FastAPI, HTTPException

from bkcore.auth import STREAM_GATEWAY, Principal, Role
from bkcore.auth_http import Authenticator
from bkcore.testing.authz import (
    ANONYMOUS,
    DEMO_PLACES,
    STAFF_ROLES,
    Call,
    Route,
    Where,
    allow,
    missing_routes,
    run_matrix,
    standard_callers,
)
from bkcore.testing.tokens import new_token_issuer

P = DEMO_PLACES
SITES = {P.site(w): P[w] for w in Where}


def app_with(*, leaky: bool) -> tuple[FastAPI, list]:  # type: ignore[type-arg]
    tokens = new_token_issuer()
    auth = Authenticator(tokens, audience=STREAM_GATEWAY)
    app = FastAPI()

    @app.get("/sites/{site_id}")
    async def one(site_id: str, p: Principal = Depends(auth)) -> dict[str, str]:
        place = SITES.get(site_id)
        if place is None or not (leaky or p.can_see_site(place.tenant_id, site_id, place.org_path)):
            raise HTTPException(404)
        return {"id": site_id}

    @app.get("/sites")
    async def many(p: Principal = Depends(auth)) -> list[dict[str, str]]:
        return [
            {"site_id": s} for s, x in SITES.items() if leaky or p.can_see_site(x.tenant_id, s, x.org_path)
        ]

    @app.delete("/sites/{site_id}")
    async def close(site_id: str, p: Principal = Depends(auth)) -> dict[str, str]:
        if p.role != Role.PLATFORM_ADMIN:  # leaky: 403 in the caller's tenant, 404 elsewhere (an oracle)
            raise HTTPException(403 if leaky and SITES[site_id].tenant_id == p.tenant_id else 404)
        return await one(site_id, p)

    return app, standard_callers(tokens, P, audience=STREAM_GATEWAY)


def table() -> list[Route]:
    def sites(r: httpx.Response) -> set[Where]:
        return P.of_sites(x["site_id"] for x in r.json())

    return [
        Route("GET /sites/{site_id}", allow(STAFF_ROLES, "service"), lambda w: Call(f"/sites/{P.site(w)}")),
        Route("GET /sites", allow(STAFF_ROLES, "service"), listed=sites),
        Route(
            "DELETE /sites/{site_id}", allow("admin", "other-admin"), lambda w: Call(f"/sites/{P.site(w)}")
        ),
    ]


async def _run(leaky: bool) -> list[str]:
    app, callers = app_with(leaky=leaky)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await run_matrix(c, table(), callers)


async def test_a_scoped_app_passes_and_a_leaky_one_fails_with_each_kind_of_hole() -> None:
    assert await _run(leaky=False) == []
    failures = await _run(leaky=True)
    assert any("site-manager GET /sites/{site_id} @ other org subtree: OUT OF SCOPE" in f for f in failures)
    assert any("other-admin GET /sites/{site_id} @ own site: OUT OF SCOPE" in f for f in failures)
    assert any("district GET /sites: LEAKS ['other org subtree', 'other tenant']" in f for f in failures)
    assert any("site-manager DELETE /sites/{site_id}: the refusal differs by place" in f for f in failures)
    assert not any(f.split()[0] == ANONYMOUS for f in failures)  # a 401 whatever the app leaks


async def test_a_route_without_a_row_is_named() -> None:
    app, _ = app_with(leaky=False)
    rows = table()[:2]
    assert missing_routes(app, rows) == [
        "DELETE /sites/{site_id}: no row in the authorisation matrix (who may call it?)"
    ]
    extra = [*table(), Route("GET /gone", allow())]
    assert missing_routes(app, extra) == ["GET /gone: a row for a route the app does not have"]
