"""A city-wide recall (召回) through the whole platform: the ledger traces one supplier across three
sites of the tenant, the case-manager opens one case per affected site, and each site's manager is
told; the recall's report then carries those cases. A second recall of the supplier joins them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import recall_kitchen

from recall_kitchen import AFFECTED, DISHES, TOFU, seed_city

from bkcore.settings import CoreSettings
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e


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
        await seed_city(client, admin)
        names = DISHES

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
        # Class I by default: dispatched at once, the deadline running (rules.DEFAULT_GRADES).
        assert {(c["risk_class"], c["status"]) for c in cases} == {(1, "dispatched")}, cases
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
