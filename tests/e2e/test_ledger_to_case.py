"""A broken ledger rule becomes a case through the bus: ledger → ledger.alerts.v1 → case-manager."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bkcore.settings import CoreSettings
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/api/cases/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_failed_pesticide_test_opens_a_case(tmp_path: Path) -> None:
    options = PlatformOptions(port=0, simulated_cameras=False)
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        httpx.AsyncClient(base_url=platform.base_url, timeout=30) as client,
    ):
        manager = await _login(client, "manager", "demo-manager")
        record = {
            "site_id": "lakeside-primary",
            "sample_no": "S-001",
            "item": "青菜 bok choy",
            "inhibition_pct": 62.5,
            "tester": "陈强",
            "tested_at": datetime.now(UTC).isoformat(),
            "disposition": "returned",
        }
        r = await client.post("/api/ledger/v1/pesticide-tests", json=record, headers=manager)
        assert r.status_code in (200, 201), r.text

        supervisor = await _login(client, "lakeside", "demo-lakeside")
        for _ in range(60):
            r = await client.get("/api/cases/cases", params={"source": "ledger"}, headers=supervisor)
            assert r.status_code == 200, r.text
            if r.json()["items"]:
                break
            await asyncio.sleep(0.5)
        items = r.json()["items"]
        assert len(items) == 1, items
        assert items[0]["site_id"] == "lakeside-primary"
        assert "pesticide" in items[0]["case_type"]
        # The ledger's own severity ("alarm"), graded by the case-manager: at a school, Class I,
        # dispatched at once with its clock running, and copied to the education bureau (#18.4).
        case = items[0]
        assert (case["severity"], case["risk_class"], case["status"]) == ("alarm", 1, "dispatched"), case
        assert case["deadline"] and case["dispatched_at"]
        edu = await _login(client, "edu", "demo-edu")
        copies = (await client.get("/api/cases/cases/copies", headers=edu)).json()
        assert [c["case"]["id"] for c in copies["items"]] == [case["id"]], copies

        # A passing test raises nothing more.
        ok = {**record, "sample_no": "S-002", "inhibition_pct": 12.0}
        r = await client.post("/api/ledger/v1/pesticide-tests", json=ok, headers=manager)
        assert r.status_code in (200, 201), r.text
        await asyncio.sleep(2.0)
        r = await client.get("/api/cases/cases", params={"source": "ledger"}, headers=supervisor)
        assert len(r.json()["items"]) == 1
