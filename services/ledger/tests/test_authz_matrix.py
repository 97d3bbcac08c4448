"""The ledger's authorisation matrix: every route × every kind of caller × own site, a site in the
same subtree, another subtree, another tenant (``bkcore.testing.authz``). Each place holds one
record of every ledger, written through the API by its tenant's admin. A new route without a row
fails ``test_every_route_has_a_row``."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from bkcore.auth import LEDGER
from bkcore.testing.authz import (
    ADMIN,
    ADMINS,
    DEMO_PLACES,
    MANAGER,
    OTHER_ADMIN,
    SERVICE,
    SITE_ROLES,
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
from bkcore.testing.directory import DirSite, eventually, publish, site_event
from bkcore.testing.pictures import jpeg

P = DEMO_PLACES
READERS = allow(STAFF_ROLES)
WRITERS = allow(ADMINS, SITE_ROLES)
MANAGERS = allow(ADMINS, MANAGER)
DAY = "2026-09-01"
AT = "2026-09-01T07:00:00+08:00"
# Valid bodies of each ledger (the site is filled in per place).
BODIES: dict[str, dict[str, Any]] = {
    "morning-checks": {
        "staff_id": "s1",
        "staff_name": "陈强",
        "checked_at": AT,
        "temperature_c": 36.5,
        "hands_ok": True,
        "dress_ok": True,
        "checker": "张芳",
    },
    "pesticide-tests": {
        "sample_no": "N1",
        "item": "青菜",
        "tester": "王",
        "tested_at": AT,
        "inhibition_pct": 20,
    },
    "disinfections": {
        "items": "餐盘",
        "quantity": 200,
        "operator": "李",
        "started_at": "2026-09-01T13:00:00+08:00",
        "ended_at": "2026-09-01T13:00:39+08:00",
        "method": "dishwasher",
        "temperature_c": 85,
    },
    "samples": {
        "dish": "红烧肉",
        "meal": "lunch",
        "meal_date": DAY,
        "taken_at": "2026-09-01T11:30:00+08:00",
        "taker": "张",
        "fridge": "F1",
        "planned_disposal_at": "2026-09-03T11:30:00+08:00",
        "weight_g": 130,
    },
    "accompanying-meals": {
        "meal_date": DAY,
        "meal": "lunch",
        "leader": "刘",
        "leader_title": "校长",
        "menu": "红烧肉",
        "quality": "good",
        "hygiene": "good",
    },
    "staff": {"name": "陈强", "position": "厨师"},
    "iot/sensors": {"name": "冷藏冰箱 1", "kind": "fridge"},
}
SUPPLIER = {
    "name": "明湖蔬菜配送",
    "address": "菜市路 1 号",
    "contact": "赵",
    "phone": "0571-88886666",
    "business_licence_no": "91350100M000100Y43",
    "food_licence_no": "JY13301000001",
    "food_licence_expires": "2027-12-31",
}
PURCHASE = {
    "item": "青菜",
    "spec": "5kg/箱",
    "quantity": 10,
    "unit": "箱",
    "batch_no": "B1",
    "purchase_date": DAY,
}
RECALL = {"supplier_licence": SUPPLIER["business_licence_no"], "reason": "抽检不合格 failed a test"}
QUESTIONS = [{"text": "留样多少克?", "options": ["100", "125"], "answer": 1}]
SIMPLE = ("morning-checks", "pesticide-tests", "disinfections", "samples", "accompanying-meals", "staff")


def photo(name: str) -> tuple[str, tuple[str, bytes, str]]:
    return (name, (f"{name}.jpg", jpeg(), "image/jpeg"))


class World:
    """The ledger with one record of every kind at each place, a client, and the callers."""

    def __init__(self, h: Any, callers: list[Caller]) -> None:
        self.h, self.client, self.callers = h, h.client, callers
        by_name = {c.name: c for c in callers}
        self.admin_of = {
            w: by_name[OTHER_ADMIN if w == Where.OTHER_TENANT else ADMIN].headers for w in WHERES
        }
        self.rec: dict[Where, dict[str, str]] = {}
        self.n = itertools.count()

    async def post(self, where: Where, path: str, **kw: Any) -> dict[str, Any]:
        r = await self.client.post(path, headers=self.admin_of[where], **kw)
        assert r.status_code in (200, 201), (path, r.text)
        return r.json()  # type: ignore[no-any-return]

    def body(self, where: Where, ledger: str, **extra: Any) -> dict[str, Any]:
        return {**BODIES.get(ledger, {}), "site_id": P.site(where), **extra}

    def multipart(self, where: Where, payload: dict[str, Any], *files: str) -> dict[str, Any]:
        full = {**payload, "site_id": P.site(where)}
        return {"data": {"payload": json.dumps(full)}, "files": [photo(f) for f in files]}

    async def seed(self, where: Where) -> None:
        rec: dict[str, str] = {}
        for ledger in SIMPLE:
            rec[ledger] = (await self.post(where, f"/v1/{ledger}", json=self.body(where, ledger)))["id"]
        rec["supplier"] = (
            await self.post(where, "/v1/suppliers", **self.multipart(where, SUPPLIER, "licences"))
        )["id"]
        pur = self.multipart(where, {**PURCHASE, "supplier_id": rec["supplier"]}, "certificates", "invoices")
        rec["purchase"] = (await self.post(where, "/v1/purchases", **pur))["id"]
        rec["pesticide-tests"] = (
            await self.post(
                where,
                "/v1/pesticide-tests",
                json=self.body(where, "pesticide-tests", purchase_id=rec["purchase"]),
            )
        )["id"]
        dish = self.body(
            where, "dish", meal_date=DAY, meal="lunch", dish="清炒青菜", purchase_ids=[rec["purchase"]]
        )
        rec["dish"] = (await self.post(where, "/v1/dishes-served", json=dish))["id"]
        # A batch bought only here, recalled: the recall's report names this place alone.
        batch = {"item": PURCHASE["item"], "batch_no": f"R-{P.site(where)}"}
        own = {**PURCHASE, "batch_no": batch["batch_no"], "supplier_id": rec["supplier"]}
        await self.post(where, "/v1/purchases", **self.multipart(where, own, "certificates", "invoices"))
        recall = {**RECALL, "batch": batch}
        rec["recall"] = (await self.post(where, "/v1/recalls", json=recall))["id"]
        cert = {
            "site_id": P.site(where),
            "staff_id": rec["staff"],
            "cert_no": "HC-1",
            "issued_on": "2026-08-30",
            "expires_on": "2027-08-30",
        }
        await self.post(where, "/v1/health-certificates", json=cert)
        course = {
            "site_id": P.site(where),
            "title": "食品安全法",
            "hours": 2,
            "pass_score": 50,
            "questions": QUESTIONS,
        }
        rec["course"] = (await self.post(where, "/v1/training/courses", json=course))["id"]
        await self.post(
            where, f"/v1/training/courses/{rec['course']}/exams", json=await self.exam(where, rec)
        )
        sensor = await self.post(where, "/v1/iot/sensors", json=self.body(where, "iot/sensors"))
        rec["sensor"], rec["device_token"] = sensor["id"], sensor["device_token"]
        got = await self.client.get(f"/v1/suppliers/{rec['supplier']}", headers=self.admin_of[where])
        rec["photo"] = got.json()["licence_photos"][0]
        self.rec[where] = rec

    async def exam(self, where: Where, rec: dict[str, str]) -> dict[str, Any]:
        r = await self.client.get(f"/v1/training/courses/{rec['course']}/paper", headers=self.admin_of[where])
        return {"staff_id": rec["staff"], "answers": {q["id"]: 1 for q in r.json()["questions"]}}

    async def fresh_sample(self, where: Where) -> Call:
        sample = (await self.post(where, "/v1/samples", json=self.body(where, "samples")))["id"]
        disposal = {"disposed_at": "2026-09-03T11:31:00+08:00", "disposed_by": "张"}
        return Call(f"/v1/samples/{sample}/disposal", {"json": disposal})

    async def signed_photo(self, where: Where) -> Call:
        r = await self.client.get(f"/v1/photos/{self.rec[where]['photo']}", headers=self.admin_of[where])
        url = urlsplit(r.json()["url"])
        return Call(f"{url.path}?{url.query}")

    def table(self) -> list[Route]:
        def record(prefix: str, key: str, suffix: str = "") -> Callable[[Where], Call]:
            return lambda w: Call(f"{prefix}/{self.rec[w][key]}{suffix}")

        def create(path: str, ledger: str | None = None) -> Callable[[Where], Call]:
            return lambda w: Call(path, {"json": self.body(w, ledger or path.rsplit("/", 1)[-1])})

        def upload(
            path: str, payload: Callable[[Where], dict[str, Any]], *files: str
        ) -> Callable[[Where], Call]:
            return lambda w: Call(path, self.multipart(w, payload(w), *files))

        def of_site(path: str, **params: str) -> Callable[[Where], Call]:
            return lambda w: Call(path, {"params": {"site_id": P.site(w), **params}})

        def rows(r: httpx.Response) -> set[Where]:
            return P.of_sites(x["site_id"] for x in r.json())

        def in_text(r: httpx.Response) -> set[Where]:
            return {w for w in WHERES if P.site(w) in r.text}

        def recalled(r: httpx.Response) -> set[Where]:
            return P.of_sites(x["site_id"] for x in r.json()["sites"])

        def listing(path: str) -> Route:  # ?site_id= of each place: its rows, or none outside scope
            return Route(f"GET {path}", READERS, of_site(path), listed=rows, hidden=None)

        def dish(w: Where) -> dict[str, Any]:
            return self.body(
                w, "dish", meal_date=DAY, meal="lunch", dish="x", purchase_ids=[self.rec[w]["purchase"]]
            )

        def cert(w: Where) -> dict[str, Any]:
            return {
                "site_id": P.site(w),
                "staff_id": self.rec[w]["staff"],
                "cert_no": f"HC-{next(self.n)}",
                "issued_on": "2026-08-30",
                "expires_on": "2027-08-30",
            }

        async def exam(w: Where) -> Call:
            return Call(
                f"/v1/training/courses/{self.rec[w]['course']}/exams",
                {"json": await self.exam(w, self.rec[w])},
            )

        def readings(w: Where) -> Call:
            token = {"X-Device-Token": self.rec[w]["device_token"]}
            return Call(
                f"/v1/iot/sensors/{self.rec[w]['sensor']}/readings",
                {"json": {"readings": [{"ts": 1788220800, "value": 4}]}, "headers": token},
            )

        async def new_credentials(w: Where) -> Call:  # a sensor of its own: the shared one keeps its token
            fresh = await self.post(w, "/v1/iot/sensors", json=self.body(w, "iot/sensors"))
            return Call(f"/v1/iot/sensors/{fresh['id']}/credentials", {})

        window = {"start": "2026-09-01T00:00:00+08:00", "end": "2026-09-02T00:00:00+08:00"}
        table = [
            Route("GET /v1/sites", READERS, listed=rows),
            Route("GET /v1/rules/config", READERS),
            Route("PUT /v1/rules/config", ADMINS, send={"json": {}}),  # each admin: their own tenant's
            Route("GET /v1/photos/{key:path}", READERS, record("/v1/photos", "photo")),
            Route("POST /v1/suppliers", WRITERS, upload("/v1/suppliers", lambda w: SUPPLIER, "licences")),
            Route(
                "POST /v1/purchases",
                WRITERS,
                upload(
                    "/v1/purchases",
                    lambda w: {**PURCHASE, "supplier_id": self.rec[w]["supplier"]},
                    "certificates",
                    "invoices",
                ),
            ),
            listing("/v1/suppliers"),
            listing("/v1/purchases"),
            Route("GET /v1/suppliers/{record_id}", READERS, record("/v1/suppliers", "supplier")),
            Route("GET /v1/purchases/{record_id}", READERS, record("/v1/purchases", "purchase")),
            Route("POST /v1/samples/{record_id}/disposal", WRITERS, self.fresh_sample),
            Route("POST /v1/dishes-served", WRITERS, lambda w: Call("/v1/dishes-served", {"json": dish(w)})),
            Route(
                "POST /v1/health-certificates",
                MANAGERS,
                lambda w: Call("/v1/health-certificates", {"json": cert(w)}),
            ),
            listing("/v1/health-certificates"),
            Route(
                "POST /v1/training/courses",
                MANAGERS,
                lambda w: Call(
                    "/v1/training/courses",
                    {"json": {"site_id": P.site(w), "title": "x", "hours": 1, "questions": QUESTIONS}},
                ),
            ),
            Route(
                "GET /v1/training/courses/{course_id}/paper",
                READERS,
                record("/v1/training/courses", "course", "/paper"),
            ),
            Route("POST /v1/training/courses/{course_id}/exams", WRITERS, exam),
            listing("/v1/training/exams"),
            Route("POST /v1/iot/sensors", MANAGERS, create("/v1/iot/sensors", "iot/sensors")),
            listing("/v1/iot/sensors"),
            # The device token is the sensor's credential; a bearer token neither opens nor closes it.
            Route(
                "POST /v1/iot/sensors/{sensor_id}/readings",
                allow(c.name for c in self.callers),
                readings,
                public=True,
                scoped=False,
            ),
            Route(
                "PATCH /v1/iot/sensors/{sensor_id}",
                MANAGERS,
                lambda w: Call(f"/v1/iot/sensors/{self.rec[w]['sensor']}", {"json": {"name": "冷藏冰箱 1"}}),
            ),
            Route("POST /v1/iot/sensors/{sensor_id}/credentials", MANAGERS, new_credentials),
            Route(
                "GET /v1/iot/sensors/{sensor_id}/history",
                READERS,
                lambda w: Call(f"/v1/iot/sensors/{self.rec[w]['sensor']}/history", {"params": window}),
            ),
            Route("GET /v1/trace/dishes/{dish_id}", READERS, record("/v1/trace/dishes", "dish")),
            # A recall reaches every site of the caller's scope that bought from the supplier.
            Route("POST /v1/recalls", SUPERVISING, send={"json": RECALL}, listed=recalled),
            Route("GET /v1/recalls/{recall_id}", READERS, record("/v1/recalls", "recall"), listed=recalled),
            Route(
                "GET /v1/recalls",
                READERS,
                listed=lambda r: P.of_sites(s for x in r.json() for s in x["site_ids"]),
            ),
            Route(
                "GET /v1/trace/pesticide-tests/{test_id}",
                READERS,
                record("/v1/trace/pesticide-tests", "pesticide-tests"),
            ),
            Route(
                "GET /v1/trace/purchases/{purchase_id}", READERS, record("/v1/trace/purchases", "purchase")
            ),
            Route(
                "GET /v1/completeness/{site_id}",
                READERS,
                lambda w: Call(f"/v1/completeness/{P.site(w)}", {"params": {"start": DAY}}),
            ),
            # The warehouse export: a tenant's admins for their tenant (the target's place names it).
            Route(
                "POST /v1/warehouse/exports",
                ADMINS,
                lambda w: Call(
                    "/v1/warehouse/exports",
                    {
                        "json": {"tenant_id": P[w].tenant_id, "start": DAY, "end": DAY}
                        | {"tables": ["ledger_dishes_served"]}
                    },
                ),
            ),
            Route(
                "GET /v1/exports/{ledger}.{fmt}",
                READERS,
                of_site("/v1/exports/morning-checks.csv"),
                listed=in_text,
                hidden=None,
            ),
            Route(
                "GET /v1/public/sites/{site_id}/summary",
                allow(SERVICE),
                lambda w: Call(f"/v1/public/sites/{P.site(w)}/summary", {"params": {"day": DAY}}),
            ),
            # A signed object URL (from /v1/photos): the signature is the authorisation.
            Route(
                "GET /objects/{key:path}",
                allow(c.name for c in self.callers),
                self.signed_photo,
                public=True,
                scoped=False,
            ),
        ]
        for ledger in SIMPLE:
            path = f"/v1/{ledger}"
            table += [
                Route(f"POST {path}", WRITERS, create(path)),
                listing(path),
                Route(f"GET {path}/{{record_id}}", READERS, record(path, ledger)),
            ]
        return table


EXTRA_SITES = [(P.sibling, "湖滨中学食堂"), (P.other_tenant, "River School")]


async def _extra_sites_known(h: Any) -> bool:
    directory = h.service.directory
    return all(
        [await directory.known_sites(tenant_id=p.tenant_id, site_ids={p.site_id}) for p, _ in EXTRA_SITES]
    )


@pytest.fixture
async def world(tmp_path: Path, harness_factory) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    async for h in harness_factory(tmp_path):
        events = [
            site_event(p.tenant_id, DirSite(p.site_id, n, "school_canteen", p.org_path))
            for p, n in EXTRA_SITES
        ]
        await publish(h.bus, events)
        await eventually(
            partial(_extra_sites_known, h), what="the ledger knows the sibling and other tenant's site"
        )
        w = World(h, standard_callers(h.tokens, P, audience=LEDGER))
        for where in WHERES:
            await w.seed(where)
        yield w


async def test_every_route_has_a_row(world: World) -> None:
    assert missing_routes(world.h.service.app, world.table()) == []


async def test_authorisation_matrix(world: World) -> None:
    failures = await run_matrix(world.client, world.table(), world.callers)
    assert failures == [], "\n".join(failures)


async def test_readings_need_the_sensors_own_device_token(world: World) -> None:
    """A staff token does not stand in for a device token, nor does another place's device token."""
    own, other = world.rec[Where.OWN], world.rec[Where.OTHER_TENANT]
    url = f"/v1/iot/sensors/{own['sensor']}/readings"
    body = {"readings": [{"ts": 1788220800, "value": 4}]}
    for caller in world.callers:
        for extra in ({}, {"X-Device-Token": other["device_token"]}):
            r = await world.client.post(url, json=body, headers={**caller.headers, **extra})
            assert r.status_code == 401, (caller.name, extra, r.status_code)
