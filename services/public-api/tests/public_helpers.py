"""Helpers of the public-api tests: a fake of the other services, tokens, logins, invite codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from bk_public.service import PublicService
from bkcore.auth import Principal, Role
from bkcore.testing.pictures import jpeg

TENANT = "minghu"
# 12:00 in Shanghai: inside every demo site's opening hours.
NOON = datetime(2026, 9, 1, 4, 0, tzinfo=UTC)


class FakeUpstream:
    def __init__(self) -> None:
        self.site_rows = {
            "s1": {
                "id": "s1",
                "name": "一小食堂",
                "kind": "school_canteen",
                "org_path": "/minghu/lakeside",
                "address": "湖滨路 1 号",
                "latitude": 30.27,
                "longitude": 120.15,
                "opening_hours": "06:30-19:30",
                "contacts": [{"name": "张芳", "phone": "138"}],
                "zones": [{"zone": "prep", "name": "切配区"}],
                "cameras": [{"camera_id": "s1-prep", "zone": "prep", "name": "切配区"}],
            },
            "s2": {
                "id": "s2",
                "name": "山景中学",
                "kind": "school_canteen",
                "org_path": "/minghu/hillview",
                "address": "山景大道",
                "latitude": 30.24,
                "longitude": 120.12,
                "opening_hours": "06:00-07:00",
                "zones": [],
                "cameras": [{"camera_id": "s2-cook", "zone": "cooking", "name": "烹饪区"}],
            },
        }
        self.cases: dict[str, dict[str, Any]] = {}
        self.frames: dict[str, bytes] = {}  # latest frame per camera (default: a plain picture)
        self.calls: list[str] = []

    async def sites(self, tenant_id: str) -> list[dict[str, Any]]:
        return [s for s in self.site_rows.values()] if tenant_id == TENANT else []

    async def site(self, tenant_id: str, site_id: str) -> dict[str, Any] | None:
        self.calls.append(f"site:{site_id}")
        return self.site_rows.get(site_id) if tenant_id == TENANT else None

    async def live(self, tenant_id: str, camera_id: str, ttl_s: int) -> dict[str, Any]:
        return {
            "flv": f"http://media/live/{camera_id}.flv?exp=1&sig=x",
            "hls": f"http://media/live/{camera_id}.m3u8?exp=1&sig=x",
            "expires_at": None,
        }

    async def snapshot(self, tenant_id: str, camera_id: str) -> bytes | None:
        return self.frames.get(camera_id, jpeg((320, 180)))

    async def ledger_public(self, tenant_id: str, site_id: str, day: str) -> dict[str, Any]:
        self.calls.append(f"ledger:{site_id}")
        return {
            "morning_check": {"checked": 12, "passed": 12, "staff": [{"name": "陈强", "temperature": 36.5}]},
            "pesticide_tests": [
                {"item": "青菜", "inhibition_rate": 12.0, "result": "pass", "tester": "李四"}
            ],
        }

    async def case(self, tenant_id: str, case_id: str) -> dict[str, Any] | None:
        return self.cases.get(case_id)


def staff_token(
    svc: PublicService,
    role: Role = Role.SUPERVISOR,
    org: str = "/minghu",
    sites: frozenset[str] = frozenset(),
) -> dict[str, str]:
    tok = svc.runtime.tokens.issue(
        Principal(subject=f"u-{role.value}", tenant_id=TENANT, role=role, org_path=org, site_ids=sites)
    )
    return {"Authorization": f"Bearer {tok}"}


async def parent_login(client: httpx.AsyncClient, code: str = "mum-1") -> dict[str, str]:
    r = await client.post("/auth/wx-login", json={"code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['session_token']}"}


async def invite(client: httpx.AsyncClient, svc: PublicService, site_id: str = "s1") -> str:
    r = await client.post(f"/admin/sites/{site_id}/invite-codes", json={}, headers=staff_token(svc))
    assert r.status_code == 201, r.text
    return str(r.json()["code"])
