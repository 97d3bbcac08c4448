"""The case-manager's authorisation matrix: every route × every kind of caller × own site, a site in
the same subtree, another subtree, another tenant (``bkcore.testing.authz``). The demo tenant and a
second one are seeded as the service seeds them, plus a sibling canteen; staff log in with their
passwords (real tokens from the issuer); ``district`` is a bureau admin (区县管理员) of its district.
A new route without a row fails ``test_every_route_has_a_row``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cm_demo import DEMO, OTHER, Camera, Site, _user
from cm_testkit import detection, eventually, login

from bk_cases.service import CaseService
from bkcore.auth import CASE_MANAGER
from bkcore.clock import FakeClock
from bkcore.testing.authz import (
    ADMIN,
    ADMINS,
    CITY,
    DEMO_PLACES,
    DISTRICT,
    EDU,
    MANAGER,
    OTHER_ADMIN,
    SERVICE,
    SITE_ROLES,
    STAFF,
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
from bkcore.testing.pictures import jpeg

P = DEMO_PLACES
#: The demo users behind each kind of caller (``district`` is made a bureau admin below).
USERS = {
    ADMIN: "admin",
    CITY: "city",
    DISTRICT: "lakeside",
    EDU: "edu",
    MANAGER: "manager",
    STAFF: "staff",
    OTHER_ADMIN: "r-admin",
}
UNIT = {
    Where.OWN: "lakeside-north",
    Where.SIBLING: "lakeside-north",
    Where.OTHER_SUBTREE: "hillview",
    Where.OTHER_TENANT: "riverton",
}
ZONE = {w: "cooking" if w == Where.OTHER_SUBTREE else "prep" for w in WHERES}  # the demo's zones
CAMERA = {w: f"{P.site(w)}-{ZONE[w]}" for w in WHERES}
MANAGER_OF = {
    Where.OWN: "manager",
    Where.SIBLING: "middleboss",
    Where.OTHER_SUBTREE: "noodleboss",
    Where.OTHER_TENANT: "r-manager",
}
SIBLING = Site(
    "lakeside-middle",
    "湖滨中学食堂",
    "school_canteen",
    "lakeside-north",
    "湖滨路 30 号",
    30.28,
    120.16,
    "06:30-19:30",
    (Camera(CAMERA[Where.SIBLING], "prep", "切配区"),),
)
MATRIX_DEMO = SimpleNamespace(
    **{
        **vars(DEMO),
        "SITES": (*DEMO.SITES, SIBLING),
        "USERS": (*DEMO.USERS, _user("middleboss", "site_manager", sites=(SIBLING.id,))),
    }
)
SUPERVISE = allow(ADMINS, CITY, DISTRICT)  # who moves a case: not the education bureau (it reads copies)
READERS = allow(STAFF_ROLES)
#: Administration: platform admins, and bureau admins within their subtree.
DIRECTORY_ADMINS = allow(ADMINS, DISTRICT)
TRANSITION_OK = frozenset({200, 409})  # allowed, though the case's state may not allow it now
#: A tenant is the bureau admin's own whichever of its sites a row names: only another is out of scope.
TENANT_SCOPE = {DISTRICT: frozenset({Where.OWN, Where.SIBLING, Where.OTHER_SUBTREE})}
#: A new unit, site or user naming a unit or site outside the admin's reach: 422 "no such unit/site in
#: the area you administer", the answer an id that does not exist gets — from another tenant and from
#: another subtree of their own alike, so it never tells a bureau admin that an id exists.
REFERENCE_REFUSED = 422


class World:
    def __init__(self, service: CaseService, client: httpx.AsyncClient, callers: list[Caller]) -> None:
        self.service, self.client, self.callers = service, client, callers
        self.by_name = {c.name: c for c in callers}
        self.case: dict[Where, str] = {}
        self.message: dict[Where, str] = {}
        self.n = itertools.count()

    def admin_of(self, where: Where) -> dict[str, str]:
        return dict(self.by_name[OTHER_ADMIN if where == Where.OTHER_TENANT else ADMIN].headers)

    async def fresh_user(self, where: Where) -> str:
        name = f"u{next(self.n)}"
        body = {"username": name, "name": name, "role": "site_manager", "site_ids": [P.site(where)]}
        r = await self.client.post("/users", json=body, headers=self.admin_of(where))
        assert r.status_code == 201, r.text
        return name

    async def fresh_camera(self, where: Where) -> str:
        cam = f"cam-{next(self.n)}"
        r = await self.client.put(
            f"/sites/{P.site(where)}/cameras/{cam}", json={"zone": ZONE[where]}, headers=self.admin_of(where)
        )
        assert r.status_code in (200, 201), r.text
        return cam

    def table(self) -> list[Route]:
        def case(suffix: str = "", **kw: Any) -> Callable[[Where], Call]:
            return lambda w: Call(f"/cases/{self.case[w]}{suffix}", kw)

        def site(prefix: str = "/sites/", suffix: str = "", **kw: Any) -> Callable[[Where], Call]:
            return lambda w: Call(f"{prefix}{P.site(w)}{suffix}", kw)

        def user(suffix: str = "", method_kw: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
            async def build(w: Where) -> Call:
                return Call(f"/users/{await self.fresh_user(w)}{suffix}", method_kw or {})

            return build

        async def camera_gone(w: Where) -> Call:
            return Call(f"/sites/{P.site(w)}/cameras/{await self.fresh_camera(w)}")

        def new(path: str, body: Callable[[Where, str], dict[str, Any]]) -> Callable[[Where], Call]:
            return lambda w: Call(path, {"json": body(w, f"m{next(self.n)}")})

        def sites(r: httpx.Response) -> set[Where]:
            body = r.json()
            rows = body["items"] if isinstance(body, dict) else body
            return P.of_sites(x.get("site_id") or x.get("id") for x in rows)

        def named(r: httpx.Response) -> set[Where]:  # any place's site id anywhere in the answer
            return {w for w in WHERES if P.site(w) in r.text}

        def copies(r: httpx.Response) -> set[Where]:
            return P.of_sites(x["case"]["site_id"] for x in r.json()["items"])

        def tenant(suffix: str = "", **kw: Any) -> Callable[[Where], Call]:
            return lambda w: Call(f"/tenants/{P[w].tenant_id}{suffix}", kw)

        def grading_rules(w: Where) -> Call:
            return Call(
                f"/tenants/{P[w].tenant_id}/grading-rules",
                {"json": [{"case_type": "smoking", "risk_class": 2}]},
            )

        photos = {"files": [("photos", ("fixed.jpg", jpeg(), "image/jpeg"))], "data": {"note": "已整改"}}
        window = {"params": {"since": "2026-01-01T00:00:00+08:00", "until": "2027-01-01T00:00:00+08:00"}}
        by_site = {"params": {"group_by": "site"}}
        rows = [
            # Logging in is open to all; the issuer's token route takes a client secret, not a token.
            Route(
                "POST /auth/login",
                allow(c.name for c in self.callers),
                public=True,
                send={"json": {"username": "staff", "password": "demo-staff"}},
            ),
            Route(
                "POST /auth/tokens",
                allow(c.name for c in self.callers),
                public=True,
                ok=frozenset({401}),
                send={"json": {"tenant_id": "minghu"}},
            ),
            Route("GET /me", READERS),
            Route("GET /org-units", READERS),
            Route("GET /sites", allow(STAFF_ROLES, SERVICE), listed=sites),
            Route("GET /sites/{site_id}", allow(STAFF_ROLES, SERVICE), site()),
            Route("GET /cases", READERS, listed=sites),
            Route("GET /cases/copies", allow(SUPERVISING), listed=copies, complete=False),
            Route("GET /cases/{case_id}", allow(STAFF_ROLES, SERVICE), case()),
            Route("POST /cases/{case_id}/dispatch", SUPERVISE, case("/dispatch"), ok=TRANSITION_OK),
            Route(
                "POST /cases/{case_id}/acknowledge", allow(MANAGER), case("/acknowledge"), ok=TRANSITION_OK
            ),
            Route(
                "POST /cases/{case_id}/rectifications",
                allow(SITE_ROLES),
                case("/rectifications", **photos),
                ok=TRANSITION_OK,
            ),
            Route(
                "POST /cases/{case_id}/recheck",
                SUPERVISE,
                case("/recheck", json={"recheck_at": "2026-09-02T10:00:00+08:00"}),
                ok=TRANSITION_OK | {422},
            ),
            Route("POST /cases/{case_id}/approve", SUPERVISE, case("/approve"), ok=TRANSITION_OK),
            Route("POST /cases/{case_id}/reject", SUPERVISE, case("/reject"), ok=TRANSITION_OK),
            Route("POST /cases/{case_id}/close", SUPERVISE, case("/close"), ok=TRANSITION_OK),
            Route("POST /cases/{case_id}/false-alarm", SUPERVISE, case("/false-alarm"), ok=TRANSITION_OK),
            Route("GET /cases/{case_id}/labels", allow(SUPERVISING), case("/labels")),
            Route(
                "PUT /cases/{case_id}/labels",
                allow(SUPERVISING),
                case("/labels", json={}),
                ok=frozenset({200, 422}),
            ),
            Route(
                "DELETE /cases/{case_id}/labels",
                allow(SUPERVISING),
                case("/labels"),
                ok=frozenset({200, 204, 409}),
            ),
            Route("GET /audit", ADMINS, listed=named, complete=False),
            Route("GET /audit/verify", ADMINS),
            Route("GET /notifications", READERS, listed=named, complete=False),
            # A message is its recipient's alone: each place's is its site manager's.
            Route(
                "POST /notifications/{notification_id}/read",
                READERS,
                lambda w: Call(f"/notifications/{self.message[w]}/read"),
                scope={c.name: frozenset({Where.OWN} if c.name == MANAGER else ()) for c in self.callers},
            ),
            Route("GET /notifications/preferences", READERS),
            Route("PUT /notifications/preferences", READERS, send={"json": {"channels": {}}}),
            Route("GET /stats/summary", allow(SUPERVISING), listed=named, complete=False, send=by_site),
            Route(
                "GET /stats/ledger-completeness",
                allow(SUPERVISING),
                listed=named,
                complete=False,
                send={"params": {**window["params"], "group_by": "site"}},
            ),
            Route("GET /stats/risk-scores", allow(SUPERVISING), listed=named, complete=False),
            Route("GET /stats/red-black-list", allow(SUPERVISING), listed=named, complete=False),
            Route("GET /stats/sites/{site_id}/score", READERS, site("/stats/sites/", "/score")),
            Route("GET /stats/rules", allow(SUPERVISING)),
            Route("PUT /stats/rules", ADMINS, send={"json": {}}),
            Route("GET /exports/verdicts", ADMINS, listed=named, complete=False),
            # The warehouse export: a tenant's admins for their tenant (the target's place names it).
            Route(
                "POST /warehouse/exports",
                ADMINS,
                lambda w: Call(
                    "/warehouse/exports",
                    {
                        "json": {"tenant_id": P[w].tenant_id, "start": "2026-09-01", "end": "2026-09-01"}
                        | {"tables": ["dir_org_units"]}
                    },
                ),
            ),
            # Administration (tenants: the operator tenant's admins only; none is configured here).
            Route(
                "POST /tenants",
                allow(),
                send={
                    "json": {"id": "newcity", "name": "新城", "admin": {"username": "boss", "name": "boss"}}
                },
            ),
            Route("GET /tenants/{tenant_id}", ADMINS, tenant(), scope=TENANT_SCOPE),
            Route("PATCH /tenants/{tenant_id}", ADMINS, tenant(json={"locale": "zh-CN"}), scope=TENANT_SCOPE),
            Route("PUT /tenants/{tenant_id}/grading-rules", ADMINS, grading_rules, scope=TENANT_SCOPE),
            Route(
                "POST /org-units",
                DIRECTORY_ADMINS,
                new("/org-units", lambda w, i: {"id": i, "name": i, "kind": "grid", "parent_id": UNIT[w]}),
                hidden=REFERENCE_REFUSED,
            ),
            Route(
                "PATCH /org-units/{unit_id}",
                DIRECTORY_ADMINS,
                lambda w: Call(f"/org-units/{UNIT[w]}", {"json": {"name": "改名"}}),
            ),
            Route(
                "POST /sites",
                DIRECTORY_ADMINS,
                new("/sites", lambda w, i: {"id": i, "name": i, "kind": "restaurant", "org_id": UNIT[w]}),
                hidden=REFERENCE_REFUSED,
            ),
            Route("PATCH /sites/{site_id}", DIRECTORY_ADMINS, site(json={"address": "新地址"})),
            Route(
                "PUT /sites/{site_id}/cameras/{camera_id}",
                allow(SUPERVISING),
                lambda w: Call(f"/sites/{P.site(w)}/cameras/{CAMERA[w]}", {"json": {"zone": ZONE[w]}}),
            ),
            Route("DELETE /sites/{site_id}/cameras/{camera_id}", allow(SUPERVISING), camera_gone),
            Route("GET /users", DIRECTORY_ADMINS, listed=named, complete=False),
            Route("GET /users/{username}", DIRECTORY_ADMINS, user()),
            Route(
                "POST /users",
                DIRECTORY_ADMINS,
                new(
                    "/users",
                    lambda w, i: {"username": i, "name": i, "role": "staff", "site_ids": [P.site(w)]},
                ),
                hidden=REFERENCE_REFUSED,
            ),
            Route(
                "PATCH /users/{username}",
                DIRECTORY_ADMINS,
                user(method_kw={"json": {"phone": "13800000000"}}),
            ),
            Route("POST /users/{username}/password", DIRECTORY_ADMINS, user("/password", {"json": {}})),
            Route("POST /users/{username}/deactivate", DIRECTORY_ADMINS, user("/deactivate")),
            Route("POST /users/{username}/activate", DIRECTORY_ADMINS, user("/activate")),
            Route(
                "POST /import/{kind}",
                DIRECTORY_ADMINS,
                new(
                    "/import/users",
                    lambda w, i: {
                        "rows": [{"username": i, "name": i, "role": "staff", "site_ids": P.site(w)}],
                        "dry_run": True,
                    },
                ),
                hidden=422,  # the report names each refused row
            ),
            Route(
                "POST /import/{kind}/file",
                DIRECTORY_ADMINS,
                lambda w: Call(
                    "/import/users/file",
                    {
                        "files": [
                            (
                                "file",
                                (
                                    "u.csv",
                                    f"username,name,role,site_ids\nf{next(self.n)},x,staff,{P.site(w)}\n".encode(),
                                    "text/csv",
                                ),
                            )
                        ],
                        "data": {"dry_run": "true"},
                    },
                ),
                hidden=422,
            ),
            Route("POST /directory/snapshot", ADMINS),
        ]
        return rows


@pytest.fixture
async def world(service: CaseService, client: httpx.AsyncClient, clock: FakeClock) -> AsyncIterator[World]:
    await service.seed_demo(MATRIX_DEMO)
    await service.seed_demo(replace_users(OTHER))
    staff_login = {name: await login(client, user) for name, user in USERS.items()}
    r = await client.patch("/users/lakeside", json={"bureau_admin": True}, headers=staff_login[ADMIN])
    assert r.status_code == 200, r.text
    callers = [
        replace(c, headers=staff_login[c.name]) if c.name in staff_login else c
        for c in standard_callers(service.ctx.runtime.tokens, P, audience=CASE_MANAGER)
    ]
    world = World(service, client, callers)
    bus = service.ctx.runtime.bus
    for w in WHERES:
        place = P[w]
        await bus.publish(
            "detections.v1", detection(clock, "smoking", place.site_id, CAMERA[w], tenant=place.tenant_id)
        )
    for w in WHERES:
        h = world.admin_of(w)

        async def found(w: Where = w, h: dict[str, str] = h) -> str | None:
            items = (await client.get("/cases", headers=h, params={"site_id": P.site(w)})).json()["items"]
            return items[0]["id"] if items else None

        world.case[w] = await eventually(found, timeout_s=60)  # generous: a loaded machine
        assert (await client.post(f"/cases/{world.case[w]}/dispatch", headers=h)).status_code == 200
    for w in WHERES:  # the dispatch reached each site's manager as an in-app message
        mgr = await login(client, MANAGER_OF[w])

        async def message(mgr: dict[str, str] = mgr) -> str | None:
            items = (await client.get("/notifications", headers=mgr)).json()["items"]
            return items[0]["id"] if items else None

        world.message[w] = await eventually(message, timeout_s=60)
    yield world


def replace_users(demo: SimpleNamespace) -> SimpleNamespace:
    """The other tenant's demo, with the cameras its detections name."""
    river = replace(demo.SITES[0], cameras=(Camera(CAMERA[Where.OTHER_TENANT], "prep", "Prep"),))
    return SimpleNamespace(**{**vars(demo), "SITES": (river,)})


async def test_every_route_has_a_row(world: World) -> None:
    assert missing_routes(world.service.app, world.table()) == []


async def test_authorisation_matrix(world: World) -> None:
    failures = await run_matrix(world.client, world.table(), world.callers)
    assert failures == [], "\n".join(failures)
