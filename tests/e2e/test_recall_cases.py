"""A city-wide recall (召回) through the whole platform: the ledger traces one supplier across three
sites of the tenant, the case-manager opens one case per affected site, and each site's manager is
told; the recall's report then carries those cases. A second recall of the supplier joins them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bkcore.settings import CoreSettings
from bkcore.testing.pictures import jpeg
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e

TOFU = "91350100M000100Y43"  # the recalled supplier's 统一社会信用代码
EGGS = "91330106MA2B3C4D5D"  # an unrelated supplier
AFFECTED = ("lakeside-primary", "lakeside-kinder", "hillview-noodle")
DAY = "2026-09-01"


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/api/cases/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _until(what: str, probe: Callable[[], Awaitable[Any]], tries: int = 240) -> Any:
    for _ in range(tries):  # generous: the machine is shared
        if got := await probe():
            return got
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


class Kitchen:
    def __init__(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        self.client, self.admin = client, admin

    async def post(self, path: str, **kw: Any) -> str:
        r = await self.client.post(f"/api/ledger/v1/{path}", headers=self.admin, **kw)
        assert r.status_code == 201, (path, r.text)
        return str(r.json()["id"])

    async def supplier(self, site: str, code: str, name: str) -> str:
        body = {
            "site_id": site,
            "name": name,
            "address": "菜市路 1 号",
            "contact": "赵",
            "phone": "0571-88886666",
            "business_licence_no": code,
            "food_licence_no": "JY13301000001",
            "food_licence_expires": "2030-12-31",
        }
        photo = [("licences", ("l.jpg", jpeg(), "image/jpeg"))]
        return await self.post("suppliers", data={"payload": json.dumps(body)}, files=photo)

    async def purchase(self, site: str, supplier: str, item: str, batch: str) -> str:
        body = {
            "site_id": site,
            "item": item,
            "spec": "5kg/箱",
            "quantity": 3,
            "unit": "箱",
            "batch_no": batch,
            "purchase_date": DAY,
            "supplier_id": supplier,
        }
        photos = [
            ("certificates", ("c.jpg", jpeg(), "image/jpeg")),
            ("invoices", ("i.jpg", jpeg(), "image/jpeg")),
        ]
        return await self.post("purchases", data={"payload": json.dumps(body)}, files=photos)

    async def served(self, site: str, dish: str, purchase_ids: list[str]) -> None:
        await self.post(
            "dishes-served",
            json={
                "site_id": site,
                "meal_date": DAY,
                "meal": "lunch",
                "dish": dish,
                "purchase_ids": purchase_ids,
            },
        )
        sample = {
            "site_id": site,
            "dish": dish,
            "meal": "lunch",
            "meal_date": DAY,
            "weight_g": 150,
            "taken_at": "2026-09-01T11:30:00+08:00",
            "taker": "张芳",
            "fridge": "留样冰箱",
            "planned_disposal_at": "2026-09-03T12:00:00+08:00",
        }
        await self.post("samples", json=sample)


async def test_a_recall_opens_one_case_per_site_and_tells_each_manager(tmp_path: Path) -> None:
    options = PlatformOptions(port=0, simulated_cameras=False)
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client,
    ):
        admin = await _login(client, "admin", "demo-admin")
        # The kindergarten gets a manager of its own (the demo has none there).
        r = await client.post(
            "/api/cases/users",
            headers=admin,
            json={
                "username": "kinderboss",
                "name": "湖滨幼儿园园长 何静",
                "role": "site_manager",
                "site_ids": ["lakeside-kinder"],
                "password": "kinder-boss-pass-1",
            },
        )
        assert r.status_code == 201, r.text
        k = Kitchen(client, admin)
        names = {"lakeside-primary": "麻婆豆腐", "lakeside-kinder": "豆腐羹", "hillview-noodle": "豆腐汤"}
        for site in AFFECTED:
            sup = await k.supplier(site, TOFU, "明湖豆制品厂")
            await k.served(site, names[site], [await k.purchase(site, sup, "豆腐", "T1")])
        eggs = await k.supplier("hillview-middle", EGGS, "山景蛋品")
        await k.served(
            "hillview-middle", "番茄炒蛋", [await k.purchase("hillview-middle", eggs, "鸡蛋", "E5")]
        )

        city = await _login(client, "city", "demo-city")
        recall = {"supplier_licence": TOFU, "reason": "抽检不合格 大肠菌群超标"}
        r = await client.post("/api/ledger/v1/recalls", headers=city, json=recall)
        assert r.status_code == 201, r.text
        report = r.json()
        assert sorted(s["site_id"] for s in report["sites"]) == sorted(AFFECTED)
        assert {s["site_id"]: [d["dish"] for d in s["dishes"]] for s in report["sites"]} == {
            site: [names[site]] for site in AFFECTED
        }
        assert {s["site_id"]: [x["dish"] for x in s["samples"]] for s in report["sites"]} == {
            site: [names[site]] for site in AFFECTED
        }

        async def recall_cases() -> list[dict[str, Any]] | None:
            r = await client.get("/api/cases/cases", params={"source": "ledger", "limit": 200}, headers=admin)
            assert r.status_code == 200, r.text
            got = [c for c in r.json()["items"] if c["case_type"] == "supplier_recall"]
            return got if len(got) >= len(AFFECTED) else None

        cases = await _until("one case per affected site", recall_cases)
        assert sorted(c["site_id"] for c in cases) == sorted(AFFECTED), cases
        assert {c["severity"] for c in cases} == {"alarm"}
        case_of = {c["site_id"]: c["id"] for c in cases}

        # Each site's manager is told of their own site's case (in-app, and the phone channels).
        for user, password, site in (
            ("manager", "demo-manager", "lakeside-primary"),
            ("kinderboss", "kinder-boss-pass-1", "lakeside-kinder"),
            ("noodleboss", "demo-noodleboss", "hillview-noodle"),
        ):
            me = await _login(client, user, password)

            async def told(me: dict[str, str] = me, site: str = site) -> bool:
                r = await client.get("/api/cases/notifications", headers=me)
                assert r.status_code == 200, r.text
                return case_of[site] in {n["case_id"] for n in r.json()["items"]}

            await _until(f"{user} is told of the recall's case at {site}", told)
            r = await client.get("/api/cases/notifications", headers=me)
            others = {n["case_id"] for n in r.json()["items"]} & (set(case_of.values()) - {case_of[site]})
            assert not others, f"{user} was told of another site's recall case"

        # The report carries each site's case once the case-manager opened it.
        async def report_cases() -> dict[str, str] | None:
            r = await client.get(f"/api/ledger/v1/recalls/{report['id']}", headers=city)
            got = {s["site_id"]: s["case_id"] for s in r.json()["sites"]}
            return got if all(got.values()) else None

        assert await _until("the report holds the cases", report_cases) == case_of

        # A second recall of the same supplier (one batch) joins each site's open case: still one each.
        again = {**recall, "batch": {"item": "豆腐", "batch_no": "T1"}, "reason": "复检仍不合格"}
        r = await client.post("/api/ledger/v1/recalls", headers=city, json=again)
        assert r.status_code == 201 and len(r.json()["sites"]) == 3, r.text
        second = r.json()["id"]

        async def joined() -> dict[str, str] | None:
            r = await client.get(f"/api/ledger/v1/recalls/{second}", headers=city)
            got = {s["site_id"]: s["case_id"] for s in r.json()["sites"]}
            return got if all(got.values()) else None

        assert await _until("the second recall's sites joined their cases", joined) == case_of
        cases = await recall_cases()
        assert cases is not None and sorted(c["site_id"] for c in cases) == sorted(AFFECTED)
