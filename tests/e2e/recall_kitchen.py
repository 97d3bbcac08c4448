"""Seeding a city for recall tests through the ledger's API: one supplier (by its credit code) at
three sites of the demo tenant, an unrelated one at a fourth, each with a dish and its sample."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bkcore.testing.pictures import jpeg

TOFU = "91350100M000100Y43"  # the recalled supplier's 统一社会信用代码
EGGS = "91330106MA2B3C4D5D"  # an unrelated supplier
AFFECTED = ("lakeside-primary", "lakeside-kinder", "hillview-noodle")
DISHES = {"lakeside-primary": "麻婆豆腐", "lakeside-kinder": "豆腐羹", "hillview-noodle": "豆腐汤"}
DAY = "2026-09-01"


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


async def seed_city(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    k = Kitchen(client, admin)
    for site in AFFECTED:
        sup = await k.supplier(site, TOFU, "明湖豆制品厂")
        await k.served(site, DISHES[site], [await k.purchase(site, sup, "豆腐", "T1")])
    eggs = await k.supplier("hillview-middle", EGGS, "山景蛋品")
    await k.served("hillview-middle", "番茄炒蛋", [await k.purchase("hillview-middle", eggs, "鸡蛋", "E5")])
