"""The public-api's authorisation matrix: every route × every kind of caller × own site, a site in
the same subtree, another subtree, another tenant (``bkcore.testing.authz``). Parents see the
sites they are bound to (server-side): ``parent`` is bound to the own site, ``other-parent`` to the
other tenant's. Staff read the console and run the public window of the sites in their scope; the
public pages need no token. A new route without a row fails ``test_every_route_has_a_row``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from public_helpers import NOON, FakeUpstream

from bk_public.service import PublicService
from bk_public.settings import PublicSettings
from bkcore.auth import PUBLIC_API, Principal, Role
from bkcore.bus.base import new_meta
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.settings import CoreSettings
from bkcore.testing.authz import (
    ADMIN,
    DEMO_PLACES,
    MANAGER,
    OTHER_ADMIN,
    PARENT,
    STAFF_ROLES,
    SUPERVISING,
    WHERES,
    Call,
    Caller,
    Route,
    Where,
    allow,
    missing_routes,
    run_matrix,
    standard_callers,
)
from bkcore.testing.tokens import new_token_issuer
from bkproto.events.v1.cases_pb2 import CaseChanged

P = DEMO_PLACES
OTHER_PARENT = "other-parent"  # a parent of the other tenant, bound to its school
PARENTS = allow(PARENT, OTHER_PARENT)
INVITERS = allow(SUPERVISING, MANAGER)  # site staff keep the ledgers; they do not hand out codes
# Binding takes an invite code: a parent may bind to any site of their own tenant they hold one for.
BINDABLE = {
    PARENT: frozenset({Where.OWN, Where.SIBLING, Where.OTHER_SUBTREE}),
    OTHER_PARENT: frozenset({Where.OTHER_TENANT}),
}


class Upstream(FakeUpstream):
    """The other services as the public-api sees them, holding the four places in two tenants."""

    def __init__(self) -> None:
        super().__init__()
        self.site_rows = {
            P.site(w): {
                "id": P.site(w),
                "tenant_id": P[w].tenant_id,
                "name": P.site(w),
                "kind": "school_canteen",
                "org_path": P[w].org_path,
                "address": "路 1 号",
                "latitude": 30.2,
                "longitude": 120.1,
                "opening_hours": "06:30-19:30",
                "zones": [{"zone": "prep", "name": "切配区"}],
                "cameras": [{"camera_id": f"{P.site(w)}-cam", "zone": "prep", "name": "切配区"}],
            }
            for w in WHERES
        }

    async def sites(self, tenant_id: str) -> list[dict[str, Any]]:
        return [s for s in self.site_rows.values() if s["tenant_id"] == tenant_id]

    async def site(self, tenant_id: str, site_id: str) -> dict[str, Any] | None:
        row = self.site_rows.get(site_id)
        return row if row is not None and row["tenant_id"] == tenant_id else None


def case_id(where: Where) -> str:
    return f"case-{P.site(where)}"


def closed_case(where: Where) -> CaseChanged:
    place = P[where]
    return CaseChanged(
        meta=new_meta(tenant_id=place.tenant_id, key=case_id(where), producer="test"),
        case_id=case_id(where),
        site_id=place.site_id,
        org_path=place.org_path,
        case_type="no_chef_hat",
        risk_class=3,
        status="closed",
        action="close",
        occurrences=1,
    )


class World:
    def __init__(self, svc: PublicService, client: httpx.AsyncClient, callers: list[Caller]) -> None:
        self.svc, self.client, self.callers = svc, client, callers
        self.by_name = {c.name: c for c in callers}

    def admin_of(self, where: Where) -> dict[str, str]:
        return dict(self.by_name[OTHER_ADMIN if where == Where.OTHER_TENANT else ADMIN].headers)

    def parent_of(self, where: Where) -> dict[str, str]:
        return dict(self.by_name[OTHER_PARENT if where == Where.OTHER_TENANT else PARENT].headers)

    async def code(self, where: Where) -> str:
        r = await self.client.post(
            f"/admin/sites/{P.site(where)}/invite-codes", json={}, headers=self.admin_of(where)
        )
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    async def bind(self, where: Where) -> str:
        body = {"invite_code": await self.code(where)}
        r = await self.client.post("/bindings", json=body, headers=self.parent_of(where))
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def stream_ends(self) -> None:  # the alarm stream says hello and ends (as at shutdown)
        self.svc.app.state.stopping.set()

    def table(self) -> list[Route]:
        def site(suffix: str = "", **kw: Any) -> Callable[[Where], Call]:
            return lambda w: Call(f"/sites/{P.site(w)}{suffix}", kw)

        def sites(r: httpx.Response) -> set[Where]:
            return P.of_sites(x.get("site_id") or x.get("id") for x in r.json())

        async def code_of(w: Where) -> Call:
            return Call(f"/admin/invite-codes/{await self.code(w)}")

        async def bind_with(w: Where) -> Call:
            return Call("/bindings", {"json": {"invite_code": await self.code(w)}})

        async def unbind(w: Where) -> Call:
            return Call(f"/bindings/{await self.bind(w)}")

        complaint = {"data": {"category": "hygiene", "text": "地面有积水"}}

        def notice(w: Where) -> Call:
            return Call("/admin/notices", {"json": {"title": "通知", "body": "内容", "site_id": P.site(w)}})

        everyone = allow(c.name for c in self.callers)
        return [
            Route("POST /auth/wx-login", everyone, public=True, send={"json": {"code": "matrix-mum"}}),
            Route("GET /bindings", PARENTS, listed=sites),
            Route("GET /sites", PARENTS, listed=sites),
            Route("GET /sites/{site_id}", PARENTS, site()),
            Route(
                "GET /sites/{site_id}/cameras/{camera_id}/live",
                PARENTS,
                lambda w: Call(f"/sites/{P.site(w)}/cameras/{P.site(w)}-cam/live"),
            ),
            Route("GET /sites/{site_id}/snapshots", PARENTS, site("/snapshots")),
            Route("GET /sites/{site_id}/ledger/today", PARENTS, site("/ledger/today")),
            Route("GET /sites/{site_id}/cases", PARENTS, site("/cases")),
            Route("GET /sites/{site_id}/score", PARENTS, site("/score")),
            Route("POST /sites/{site_id}/ratings", PARENTS, site("/ratings", json={"score": "satisfied"})),
            Route("GET /sites/{site_id}/ratings/mine", PARENTS, site("/ratings/mine")),
            Route("POST /sites/{site_id}/complaints", PARENTS, site("/complaints", **complaint)),
            # The public pages: anyone, any tenant's (a canteen door's kiosk names its tenant).
            Route("GET /public/red-black", everyone, public=True),
            Route("GET /public/notices", everyone, public=True),
            Route(
                "GET /public/kiosk/{site_id}",
                everyone,
                public=True,
                scoped=False,
                target=lambda w: Call(
                    f"/public/kiosk/{P.site(w)}", {"params": {"tenant_id": P[w].tenant_id}}
                ),
            ),
            Route(
                "POST /admin/sites/{site_id}/invite-codes",
                INVITERS,
                lambda w: Call(f"/admin/sites/{P.site(w)}/invite-codes", {"json": {}}),
            ),
            Route(
                "GET /admin/sites/{site_id}/invite-codes",
                allow(STAFF_ROLES),
                lambda w: Call(f"/admin/sites/{P.site(w)}/invite-codes"),
            ),
            Route("DELETE /admin/invite-codes/{code}", INVITERS, code_of),
            Route("POST /admin/notices", allow(STAFF_ROLES), notice),
            Route(
                "GET /admin/sites/{site_id}/complaints",
                allow(STAFF_ROLES),
                lambda w: Call(f"/admin/sites/{P.site(w)}/complaints"),
            ),
            Route("GET /console/cases", allow(STAFF_ROLES), listed=sites),
            Route(
                "GET /console/cases/{case_id}",
                allow(STAFF_ROLES),
                lambda w: Call(f"/console/cases/{case_id(w)}"),
            ),
            Route(
                "GET /console/cases/{case_id}/timeline",
                allow(STAFF_ROLES),
                lambda w: Call(f"/console/cases/{case_id(w)}/timeline"),
            ),
            Route("GET /console/map", allow(STAFF_ROLES), listed=sites),
            Route("GET /console/alarms/stream", allow(STAFF_ROLES), prepare=self.stream_ends),
            # Last: these change which sites the parents are bound to.
            Route("POST /bindings", PARENTS, bind_with, hidden=400, scope=BINDABLE),
            Route("DELETE /bindings/{binding_id}", PARENTS, unbind, scope=BINDABLE),
        ]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = FakeClock(NOON)
    bus = InProcessBus(None)
    store = LocalObjectStore(
        tmp_path / "objects", "s" * 32, "http://test", clock=lambda: clock.now().timestamp()
    )
    tokens = new_token_issuer()
    runtime = Runtime(
        settings=CoreSettings(data_dir=tmp_path), bus=bus, store=store, tokens=tokens, clock=clock
    )
    settings = PublicSettings(
        data_dir=tmp_path, rate_user_per_min=10_000, rate_ip_per_min=100_000, rate_write_per_min=10_000
    )
    svc = PublicService(runtime, settings, upstream=Upstream())
    await bus.start()
    await svc.start()
    try:
        for w in WHERES:
            await bus.publish("cases.v1", closed_case(w))
        other_parent = Principal(
            subject="u-other-parent", tenant_id=P.other_tenant.tenant_id, role=Role.PARENT
        )
        callers = [
            *standard_callers(tokens, P, audience=PUBLIC_API),
            Caller(OTHER_PARENT, {"Authorization": f"Bearer {tokens.issue(other_parent)}"}),
        ]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test") as c:
            world = World(svc, c, callers)
            await world.bind(Where.OWN)
            await world.bind(Where.OTHER_TENANT)
            sees = {PARENT: frozenset({Where.OWN}), OTHER_PARENT: frozenset({Where.OTHER_TENANT})}
            world.callers = [replace(x, sees=sees.get(x.name, x.sees)) for x in callers]
            admin = world.admin_of(Where.OWN)
            for _ in range(600):  # the case read model is fed by the bus (generous: a loaded machine)
                if len((await c.get("/console/cases", headers=admin)).json()) == 3:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the read model never held the home tenant's three cases")
            yield world
    finally:
        await svc.stop()
        await bus.stop()


async def test_every_route_has_a_row(world: World) -> None:
    assert missing_routes(world.svc.app, world.table()) == []


async def test_authorisation_matrix(world: World) -> None:
    failures = await run_matrix(world.client, world.table(), world.callers)
    assert failures == [], "\n".join(failures)
