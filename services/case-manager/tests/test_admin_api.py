"""Administration through the API (#18): a new tenant from nothing — units, sites, a camera, users
with phones — by the operator, its platform admin and a bureau admin; who may do what; every change
audited and published on directory.v1; deactivation and password reset take effect at login."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cm_demo import DEMO
from cm_pg import fresh_database
from cm_testkit import make_runtime
from sqlalchemy import select

from bk_cases.db import outbox
from bk_cases.service import CaseService, create_service
from bkcore.clock import FakeClock
from bkproto.events.v1.directory_pb2 import DirectoryChanged, DirectoryKind

T = "riverbend"


@pytest.fixture(params=["sqlite", "postgresql"])
async def svc(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CaseService]:
    """The case-manager on the embedded database and on PostgreSQL (production's)."""
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_database()) if request.param == "postgresql" else ""
        runtime, settings = make_runtime(tmp_path, FakeClock())
        settings = settings.model_copy(update={"operator_tenant": "minghu", "database_url": url})
        service = create_service(runtime, settings)
        await service.start()
        await runtime.bus.start()
        await service.seed_demo(DEMO)
        try:
            yield service
        finally:
            await runtime.bus.stop()
            await service.stop()


@pytest.fixture
async def api(svc: CaseService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://cases") as c:
        yield c


async def login(
    api: httpx.AsyncClient, username: str, password: str, tenant: str | None = None
) -> dict[str, str]:
    body = {"username": username, "password": password} | ({"tenant_id": tenant} if tenant else {})
    r = await api.post("/auth/login", json=body)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()  # type: ignore[no-any-return]


def fields(r: httpx.Response) -> dict[str, str]:
    """A 422's errors by field: {"opening_hours": "营业时间格式不对 · ..."}."""
    assert r.status_code == 422, (r.status_code, r.text)
    return {str(e["loc"][-1]): e["msg"] for e in r.json()["detail"]}


SITE = {
    "id": "rb-east-primary",
    "name": "河湾东区第一小学食堂",
    "kind": "school_canteen",
    "org_id": "rb-east-1",
    "address": "东湾路 1 号",
    "latitude": 31.2,
    "longitude": 121.4,
    "opening_hours": "06:30-19:30",
    "zones": [{"zone": "prep"}, {"zone": "cooking", "name": "热厨"}],
}


async def test_a_new_tenant_from_nothing(svc: CaseService, api: httpx.AsyncClient) -> None:
    operator = await login(api, "admin", "demo-admin", "minghu")
    # Only the operator tenant's platform admins open tenants; the answer names every bad field.
    bad = await api.post(
        "/tenants",
        headers=operator,
        json={
            "id": "bad id",
            "name": "x",
            "timezone": "Mars/Olympus",
            "locale": "fr",
            "admin": {"username": "a", "name": "a"},
        },
    )
    assert set(fields(bad)) == {"id", "timezone", "locale"}
    created = ok(
        await api.post(
            "/tenants",
            headers=operator,
            json={
                "id": T,
                "name": "河湾市 Riverbend",
                "timezone": "Asia/Shanghai",
                "locale": "zh-CN",
                "admin": {"username": "rb-admin", "name": "河湾平台管理员", "phone": "13800138000"},
            },
        ),
        201,
    )
    assert created["admin_username"] == "rb-admin" and len(created["initial_password"]) >= 12
    assert (await api.post("/tenants", headers=operator, json={**_tenant_body(), "id": T})).status_code == 409
    city = await login(api, "city", "demo-city", "minghu")
    assert (await api.post("/tenants", headers=city, json=_tenant_body())).status_code == 403

    admin = await login(api, "rb-admin", created["initial_password"], T)
    assert (
        await api.post("/tenants", headers=admin, json=_tenant_body())
    ).status_code == 403  # not the operator
    tenant = ok(
        await api.put(
            f"/tenants/{T}/grading-rules",
            headers=admin,
            json=[{"case_type": "no_mask", "risk_class": 2, "deadline_h": 12}],
        )
    )
    assert tenant["grading_rules"] == [
        {"case_type": "no_mask", "risk_class": 2, "deadline_h": 12.0, "severity": "", "site_scope": ""}
    ]
    assert fields(
        await api.put(
            f"/tenants/{T}/grading-rules",
            headers=admin,
            json=[{"case_type": "x", "risk_class": 3, "deadline_h": 5}],
        )
    )

    # The org tree: city → district → township; a level out of order is refused naming "kind".
    for unit in (
        {"id": "riverbend", "name": "河湾市市场监管局", "kind": "city"},
        {"id": "rb-east", "name": "东湾区", "kind": "district", "parent_id": "riverbend"},
        {"id": "rb-west", "name": "西湾区", "kind": "district", "parent_id": "riverbend"},
        {"id": "rb-east-1", "name": "东湾街道", "kind": "township", "parent_id": "rb-east"},
    ):
        ok(await api.post("/org-units", headers=admin, json=unit), 201)
    assert "kind" in fields(
        await api.post(
            "/org-units",
            headers=admin,
            json={"id": "x", "name": "x", "kind": "district", "parent_id": "rb-east-1"},
        )
    )
    assert "parent_id" in fields(
        await api.post("/org-units", headers=admin, json={"id": "y", "name": "y", "kind": "city"})
    )
    units = ok(await api.get("/org-units", headers=admin))
    assert [u["path"] for u in units] == [
        "/riverbend",
        "/riverbend/rb-east",
        "/riverbend/rb-east/rb-east-1",
        "/riverbend/rb-west",
    ]

    # A site with zones; bad values are each named.
    bad_site = {
        **SITE,
        "id": "rb-x",
        "opening_hours": "7点到9点",
        "latitude": 31.2,
        "longitude": None,
        "kind": "disco",
    }
    assert {"opening_hours", "kind"} <= set(fields(await api.post("/sites", headers=admin, json=bad_site)))
    assert "org_id" in fields(await api.post("/sites", headers=admin, json={**SITE, "org_id": "nowhere"}))
    site = ok(await api.post("/sites", headers=admin, json=SITE), 201)
    assert site["org_path"] == "/riverbend/rb-east/rb-east-1"
    assert (await api.post("/sites", headers=admin, json=SITE)).status_code == 409
    ok(
        await api.post(
            "/sites",
            headers=admin,
            json={
                **SITE,
                "id": "rb-west-noodle",
                "kind": "restaurant",
                "org_id": "rb-west",
                "zones": [{"zone": "cooking"}],
            },
        ),
        201,
    )

    # A camera on a zone the site has; another zone is refused.
    assert "zone" in fields(
        await api.put("/sites/rb-east-primary/cameras/rb-cam-1", headers=admin, json={"zone": "storage"})
    )
    ok(
        await api.put(
            "/sites/rb-east-primary/cameras/rb-cam-1",
            headers=admin,
            json={"zone": "cooking", "name": "热厨 1 号"},
        )
    )

    # Users with phones: a bureau admin for the east district, an education supervisor, a site manager.
    east = ok(
        await api.post(
            "/users",
            headers=admin,
            json={
                "username": "rb-east-chief",
                "name": "东湾区 赵科长",
                "role": "supervisor",
                "org_id": "rb-east",
                "phone": "+86 139-0000-0001",
                "bureau_admin": True,
                "password": "east-pass-1",
            },
        ),
        201,
    )
    assert east["phone"] == "+8613900000001" and east["bureau_admin"] and east["initial_password"] is None
    edu = ok(
        await api.post(
            "/users",
            headers=admin,
            json={
                "username": "rb-edu",
                "name": "教育局 孙老师",
                "role": "supervisor",
                "org_id": "rb-east",
                "department": "education",
                "phone": "13900000002",
                "password": "edu-pass-12",
            },
        ),
        201,
    )
    assert edu["department"] == "education"
    bad_user = {
        "username": "rb-bad",
        "name": "x",
        "role": "site_manager",
        "phone": "12345",
        "wechat_openid": "短",
        "department": "police",
    }
    assert {"phone", "wechat_openid", "department"} <= set(
        fields(await api.post("/users", headers=admin, json=bad_user))
    )
    assert "site_ids" in fields(
        await api.post(
            "/users",
            headers=admin,
            json={"username": "rb-m", "name": "m", "role": "site_manager", "site_ids": ["nope"]},
        )
    )

    chief = await login(api, "rb-east-chief", "east-pass-1", T)
    manager = ok(
        await api.post(
            "/users",
            headers=chief,
            json={
                "username": "rb-manager",
                "name": "东湾一小食堂 钱经理",
                "role": "site_manager",
                "site_ids": ["rb-east-primary"],
                "phone": "13900000003",
                "wechat_openid": "oRB_manager_openid_0001",
            },
        ),
        201,
    )
    assert manager["phone"] == "+8613900000003" and manager["initial_password"]

    detail = ok(await api.get("/sites/rb-east-primary", headers=admin))
    assert [z["zone"] for z in detail["zones"]] == ["cooking", "prep"]
    assert detail["cameras"] == [{"camera_id": "rb-cam-1", "zone": "cooking", "name": "热厨 1 号"}]
    mine = await login(api, "rb-manager", manager["initial_password"], T)
    assert [s["id"] for s in ok(await api.get("/sites", headers=mine))] == ["rb-east-primary"]

    # The other tenant sees none of it.
    assert all(u["username"] != "rb-admin" for u in ok(await api.get("/users", headers=operator)))
    assert (
        await api.patch("/sites/rb-east-primary", headers=operator, json={"name": "x"})
    ).status_code == 404

    # Every change is chained in the new tenant's audit log, no password in it; all published.
    entries = ok(await api.get("/audit", headers=admin))
    kinds = {(e["action"], e["entity_type"]) for e in entries}
    for entity in ("tenant", "org_unit", "site", "zone", "camera", "user"):
        assert ("directory.create", entity) in kinds, entity
    assert ("grading.replace", "tenant") in kinds
    assert not any("scrypt$" in e["data"] for e in entries)
    assert ok(await api.get("/audit/verify", headers=admin))["ok"]
    published = await _published(svc, T)
    assert {
        ("tenant", T),
        ("org_unit", "rb-east-1"),
        ("site", "rb-east-primary"),
        ("camera", "rb-cam-1"),
        ("user", f"{T}:rb-manager"),
    } <= published


async def test_bureau_admin_reach(svc: CaseService, api: httpx.AsyncClient) -> None:
    """A bureau admin administers their subtree only; a plain supervisor only binds cameras there."""
    admin = await login(api, "admin", "demo-admin", "minghu")
    ok(await api.patch("/users/lakeside", headers=admin, json={"bureau_admin": True}))
    lake = await login(api, "lakeside", "demo-lakeside", "minghu")
    ok(
        await api.post(
            "/org-units",
            headers=lake,
            json={"id": "lakeside-south", "name": "湖南街道", "kind": "township", "parent_id": "lakeside"},
        ),
        201,
    )
    # Another district's unit is answered as one that does not exist (test_probing_other_districts).
    assert "parent_id" in fields(
        await api.post(
            "/org-units",
            headers=lake,
            json={"id": "h2", "name": "x", "kind": "township", "parent_id": "hillview"},
        )
    )
    site = {**SITE, "id": "south-kinder", "kind": "kindergarten", "org_id": "lakeside-south"}
    ok(await api.post("/sites", headers=lake, json=site), 201)
    assert "org_id" in fields(
        await api.post("/sites", headers=lake, json={**site, "id": "h-site", "org_id": "hillview"})
    )
    # Moving a site out of the subtree is refused; inside it, allowed.
    assert "org_id" in fields(
        await api.patch("/sites/south-kinder", headers=lake, json={"org_id": "hillview"})
    )
    moved = ok(await api.patch("/sites/south-kinder", headers=lake, json={"org_id": "lakeside-north"}))
    assert moved["org_path"] == "/minghu/lakeside/north"
    assert (await api.patch("/sites/hillview-noodle", headers=lake, json={"name": "x"})).status_code == 404
    # Users: supervisors of the subtree and site staff of its sites; never admins, never the flag.
    ok(
        await api.post(
            "/users",
            headers=lake,
            json={
                "username": "south",
                "name": "南街道 周",
                "role": "supervisor",
                "org_id": "lakeside-south",
                "password": "south-pass-1",
            },
        ),
        201,
    )
    assert "org_id" in fields(
        await api.post(
            "/users",
            headers=lake,
            json={"username": "h2", "name": "x", "role": "supervisor", "org_id": "hillview"},
        )
    )
    assert (
        await api.post("/users", headers=lake, json={"username": "a2", "name": "x", "role": "platform_admin"})
    ).status_code == 403
    assert (await api.patch("/users/south", headers=lake, json={"bureau_admin": True})).status_code == 403
    assert (
        await api.patch("/users/noodleboss", headers=lake, json={"phone": "13900000009"})
    ).status_code == 404
    listed = {u["username"] for u in ok(await api.get("/users", headers=lake))}
    assert {"lakeside", "north", "edu", "manager", "staff", "south"} <= listed
    assert not listed & {"admin", "city", "hillview", "noodleboss"}
    # A plain supervisor binds cameras in their subtree, administers nothing else.
    north = await login(api, "north", "demo-north", "minghu")
    ok(
        await api.put(
            "/sites/lakeside-primary/cameras/lp-storage",
            headers=north,
            json={"zone": "prep", "name": "切配 2"},
        )
    )
    assert (
        await api.put("/sites/hillview-noodle/cameras/x", headers=north, json={"zone": "cooking"})
    ).status_code == 404
    assert (
        await api.post(
            "/org-units",
            headers=north,
            json={"id": "n1", "name": "x", "kind": "grid", "parent_id": "lakeside-north"},
        )
    ).status_code == 403
    for h in (await login(api, "manager", "demo-manager", "minghu"),):
        assert (await api.get("/users", headers=h)).status_code == 403
    # Revoking the flag takes effect at the next call, whatever the token says.
    ok(await api.patch("/users/lakeside", headers=admin, json={"bureau_admin": False}))
    assert (await api.get("/users", headers=lake)).status_code == 403


async def test_probing_other_districts(svc: CaseService, api: httpx.AsyncClient) -> None:
    """The attack: a bureau admin names ids outside their area to learn which exist in the tenant.
    A real unit or site of another district gets exactly the answer a made-up id gets (status, field
    and message, the id aside); nothing is written. Their own area's ids are accepted."""
    admin = await login(api, "admin", "demo-admin", "minghu")
    ok(await api.patch("/users/lakeside", headers=admin, json={"bureau_admin": True}))
    lake = await login(api, "lakeside", "demo-lakeside", "minghu")

    async def probe(method: str, path: str, body: dict, real: str, made_up: str) -> dict[str, str]:
        """Both answers, the probed id blanked out; they must be the same 422."""
        answers = []
        for named in (real, made_up):
            sent = json.loads(json.dumps(body).replace("{ID}", named))
            r = await api.request(method, path, headers=lake, json=sent)
            answers.append(
                {k: v.replace(repr(named), "<id>").replace(named, "<id>") for k, v in fields(r).items()}
            )
        assert answers[0] == answers[1], answers
        return answers[0]

    unit = {"id": "probe-u", "name": "x", "kind": "township", "parent_id": "{ID}"}
    msg = (await probe("POST", "/org-units", unit, "hillview", "no-such-unit"))["parent_id"]
    assert "你管辖范围内没有这个单位" in msg and "in the area you administer" in msg
    site = {**SITE, "id": "probe-site", "org_id": "{ID}"}
    assert "org_id" in await probe("POST", "/sites", site, "hillview", "no-such-unit")
    assert "org_id" in await probe("PATCH", "/sites/lakeside-primary", {"org_id": "{ID}"}, "hillview", "nope")
    supervisor = {"username": "probe-s", "name": "x", "role": "supervisor", "org_id": "{ID}"}
    assert "org_id" in await probe("POST", "/users", supervisor, "hillview", "no-such-unit")
    # A site user's unit, too: naming another district's unit is no way to learn that it exists.
    placed = {"username": "probe-m", "name": "x", "role": "site_manager", "org_id": "{ID}",
              "site_ids": ["lakeside-primary"]}  # fmt: skip
    assert "org_id" in await probe("POST", "/users", placed, "hillview", "no-such-unit")
    manager = {"username": "probe-m", "name": "x", "role": "site_manager", "site_ids": ["{ID}"]}
    msg = (await probe("POST", "/users", manager, "hillview-noodle", "no-such-site"))["site_ids"]
    assert "你管辖范围内没有这些场所" in msg
    assert "site_ids" in await probe(
        "PATCH", "/users/manager", {"site_ids": ["{ID}"]}, "hillview-noodle", "x1"
    )
    # Nothing was written, and the same requests inside their area succeed.
    units = {u["id"] for u in ok(await api.get("/org-units", headers=admin))}
    assert "probe-u" not in units
    assert (await api.get("/sites/probe-site", headers=admin)).status_code == 404
    ok(await api.post("/org-units", headers=lake, json={**unit, "parent_id": "lakeside"}), 201)
    ok(await api.post("/users", headers=lake, json={**manager, "site_ids": ["lakeside-primary"]}), 201)
    # The platform admin administers the whole tenant: the same ids are theirs to name.
    ok(
        await api.post("/org-units", headers=admin, json={**unit, "id": "probe-h", "parent_id": "hillview"}),
        201,
    )


async def test_deactivation_and_password_reset(svc: CaseService, api: httpx.AsyncClient) -> None:
    admin = await login(api, "admin", "demo-admin", "minghu")
    off = ok(await api.post("/users/manager/deactivate", headers=admin))
    assert off["active"] is False
    assert (
        await api.post("/auth/login", json={"username": "manager", "password": "demo-manager"})
    ).status_code == 401
    assert (await api.post("/users/admin/deactivate", headers=admin)).status_code == 422  # not yourself
    ok(await api.post("/users/manager/activate", headers=admin))
    await login(api, "manager", "demo-manager", "minghu")
    reset = ok(await api.post("/users/manager/password", headers=admin, json={}))
    assert (
        await api.post("/auth/login", json={"username": "manager", "password": "demo-manager"})
    ).status_code == 401
    await login(api, "manager", reset["password"], "minghu")
    assert "password" in fields(
        await api.post("/users/manager/password", headers=admin, json={"password": "short"})
    )
    # A deactivated admin administers nothing, even with a token issued before.
    ok(await api.patch("/users/city", headers=admin, json={"bureau_admin": True}))
    city = await login(api, "city", "demo-city", "minghu")
    ok(await api.get("/users", headers=city))
    ok(await api.post("/users/city/deactivate", headers=admin))
    assert (await api.get("/users", headers=city)).status_code == 403
    entries = ok(await api.get("/audit", headers=admin))
    changes = [json.loads(e["data"]) for e in entries if e["entity_id"] == "minghu:manager"]
    assert any("active" in c.get("changed", {}) for c in changes)
    assert any(c.get("changed", {}).get("password_hash", {}).get("after") == "(set)" for c in changes)


def _tenant_body() -> dict:
    return {"id": "another", "name": "x", "admin": {"username": "x-admin", "name": "x"}}


async def _published(svc: CaseService, tenant: str) -> set[tuple[str, str]]:
    async with svc.db.session() as s:
        rows = (
            (await s.execute(select(outbox.c.payload).where(outbox.c.topic == "directory.v1")))
            .scalars()
            .all()
        )
    out = set()
    for payload in rows:
        e = DirectoryChanged.FromString(payload)
        if e.meta.tenant_id == tenant:
            out.add((DirectoryKind.Name(e.kind).removeprefix("DIRECTORY_KIND_").lower(), e.entity_id))
    return out
