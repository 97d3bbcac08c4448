"""One directory, one owner (#18.2), across the services: the case-manager changes the directory
through its admin API; the ledger, the stream gateway and the public API learn it from directory.v1;
every one of them enforces it on a token issued before the change.

- A site moved to another unit: the old unit's supervisor loses it and the new one gains it, in the
  case-manager, the ledger (its site list, a ledger of the site) and the gateway (the site's camera,
  registered with a wrong org path the directory corrects) — and with it the site's existing case, in
  the case-manager and on the public API's case board (its read model of cases.v1).
- A user deactivated: refused by all four services, on the same unexpired token, and their open
  alarm stream (SSE) ends with an ``ended`` event.

The services run as in production on their own databases over one in-process bus; each caches a
user's directory state ``directory_check_ttl_s`` (here 1 s; the default 30 s, never above 60 s).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import uvicorn

from bk_cases.service import CaseService
from bk_cases.service import create_service as create_cases
from bk_cases.settings import CaseSettings
from bk_gateway.service import GatewayService
from bk_gateway.service import create_service as create_gateway
from bk_gateway.settings import GatewaySettings
from bk_ledger.service import LedgerService
from bk_ledger.service import create_service as create_ledger
from bk_ledger.settings import LedgerSettings
from bk_public.service import PublicService
from bk_public.service import create_service as create_public
from bk_public.settings import PublicSettings
from bkcore.bus.base import new_meta
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.directory import eventually
from bkcore.testing.tokens import new_token_issuer
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase

pytestmark = pytest.mark.e2e
TENANT = "dirtown"
SITE, CAMERA = "east-school", "east-school-prep"
TTL = {"directory_check_ttl_s": 1.0}
WAIT_S = 60.0  # generous: the machine is shared; enforcement itself is bounded by the TTL above


def _unit(id_: str, kind: str, parent: str | None, path: str) -> SimpleNamespace:
    return SimpleNamespace(id=id_, name=id_, kind=kind, parent_id=parent, path=path)


def _user(username: str, role: str, org: str | None = None, sites: tuple[str, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(
        username=username,
        password=f"pw-{username}-0123",
        role=role,
        name=username,
        org_id=org,
        site_ids=sites,
    )


DEMO = SimpleNamespace(
    TENANT_ID=TENANT,
    TENANT_NAME="Dirtown",
    TIMEZONE="Asia/Shanghai",
    ORG_UNITS=(
        _unit("dirtown", "city", None, "/dirtown"),
        _unit("east", "district", "dirtown", "/dirtown/east"),
        _unit("west", "district", "dirtown", "/dirtown/west"),
    ),
    SITES=(
        SimpleNamespace(
            id=SITE,
            name="East School",
            kind="school_canteen",
            org_id="east",
            address="1 East Rd",
            latitude=30.0,
            longitude=120.0,
            opening="06:30-19:30",
            cameras=(SimpleNamespace(id=CAMERA, zone="prep", name="prep"),),
        ),
    ),
    USERS=(
        _user("boss", "platform_admin"),
        _user("eastsup", "supervisor", "east"),
        _user("westsup", "supervisor", "west"),
    ),
)


@dataclass
class Stack:
    cases: CaseService
    ledger: LedgerService
    gateway: GatewayService
    public: PublicService
    public_url: str

    def client(self, service: str) -> httpx.AsyncClient:
        app = getattr(self, service).app
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    bus, issuer = InProcessBus(None), new_token_issuer()
    store = LocalObjectStore(tmp_path / "objects", "test-signing-secret-0123456789abcdef", "http://objects")

    def rt(settings: object) -> Runtime:
        return Runtime(settings=settings, bus=bus, store=store, tokens=issuer)  # type: ignore[arg-type]

    cs = CaseSettings(data_dir=tmp_path / "cm", **TTL)
    ls = LedgerSettings(data_dir=tmp_path / "ledger", sweep_interval_s=3600, **TTL)
    gs = GatewaySettings(data_dir=tmp_path / "gw", gateway_id="gw-0", **TTL)
    ps = PublicSettings(data_dir=tmp_path / "pub", alarm_stream_recheck_s=0.2, **TTL)
    cases, ledger = create_cases(rt(cs), cs), create_ledger(rt(ls), ls)
    gateway, public = create_gateway(rt(gs), gs), create_public(rt(ps), ps)
    for svc in (cases, ledger, gateway, public):
        await svc.start()
    await bus.start()
    await cases.seed_demo(DEMO)  # type: ignore[arg-type]
    # A camera registered with a stale org path: the gateway takes the site's place from the directory.
    await eventually(
        lambda: _known(ledger), timeout_s=WAIT_S, what="the ledger learnt the directory from directory.v1"
    )
    await eventually(lambda: _known(gateway), timeout_s=WAIT_S, what="the gateway learnt the directory")
    await gateway.seed_cameras(
        [
            {
                "id": CAMERA,
                "tenant_id": TENANT,
                "site_id": SITE,
                "org_path": "/dirtown/somewhere-else",
                "zone": "prep",
                "name": "prep",
                "source_url": "sim:kitchen",
                "enabled": False,
            }
        ]
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(public.app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):
            if server.started or task.done():
                break
            await asyncio.sleep(0.025)
        assert server.started, "the public API did not start on loopback"
        yield Stack(cases, ledger, gateway, public, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        await bus.stop()
        for svc in (public, gateway, ledger, cases):
            await svc.stop()


async def _known(svc: LedgerService | GatewayService) -> bool:
    return await svc.directory.known_sites(tenant_id=TENANT, site_ids={SITE}) == {SITE}


async def _login(stack: Stack, username: str) -> dict[str, str]:
    async with stack.client("cases") as c:
        r = await c.post("/auth/login", json={"username": username, "password": f"pw-{username}-0123"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _sees_site(stack: Stack, headers: dict[str, str]) -> dict[str, bool]:
    """Whether the caller sees the site in each service (by its own read of the directory)."""
    async with stack.client("cases") as cm, stack.client("ledger") as lg, stack.client("gateway") as gw:
        cm_r = await cm.get(f"/sites/{SITE}", headers=headers)
        lg_r = await lg.get("/v1/sites", headers=headers)
        gw_r = await gw.get(f"/v1/cameras/{CAMERA}", headers=headers)
    for r in (cm_r, lg_r, gw_r):
        assert r.status_code in (200, 404), r.text
    return {
        "case-manager": cm_r.status_code == 200,
        "ledger": lg_r.status_code == 200 and SITE in {s["site_id"] for s in lg_r.json()},
        "gateway": gw_r.status_code == 200,
    }


async def _detect(stack: Stack) -> None:
    """The site's camera sees a violation: the case-manager opens a case for the site."""
    at = stack.cases.ctx.runtime.clock.now()
    ev = ViolationDetected(
        meta=new_meta(tenant_id=TENANT, key=CAMERA, producer="test", occurred_at=at),
        violation_id="dir-feed-1",
        phase=ViolationPhase.VIOLATION_PHASE_STARTED,
        violation_type="no_chef_hat",
        site_id=SITE,
        camera_id=CAMERA,
        zone="prep",
        score=0.9,
    )
    ev.started_at.FromDatetime(at)
    await stack.cases.ctx.runtime.bus.publish("detections.v1", ev)


async def _sees_cases(stack: Stack, headers: dict[str, str]) -> dict[str, set[str]]:
    """The site's cases the caller sees on the case-manager and on the public API's case board."""
    async with stack.client("cases") as cm, stack.client("public") as pub:
        cm_r = await cm.get("/cases", params={"site_id": SITE}, headers=headers)
        pub_r = await pub.get("/console/cases", params={"site_id": SITE}, headers=headers)
    assert cm_r.status_code == 200, cm_r.text
    assert pub_r.status_code == 200, pub_r.text
    return {
        "case-manager": {c["id"] for c in cm_r.json()["items"] if c["site_id"] == SITE},
        "public-api": {c["case_id"] for c in pub_r.json() if c["site_id"] == SITE},
    }


async def _statuses(stack: Stack, headers: dict[str, str]) -> dict[str, int]:
    async with (
        stack.client("cases") as cm,
        stack.client("ledger") as lg,
        stack.client("gateway") as gw,
        stack.client("public") as pub,
    ):
        return {
            "case-manager": (await cm.get("/sites", headers=headers)).status_code,
            "ledger": (await lg.get("/v1/sites", headers=headers)).status_code,
            "gateway": (await gw.get("/v1/cameras", headers=headers)).status_code,
            "public-api": (await pub.get("/console/cases", headers=headers)).status_code,
        }


async def test_a_moved_site_changes_hands_and_a_deactivated_user_is_refused_everywhere(stack: Stack) -> None:
    east, west, boss = [await _login(stack, u) for u in ("eastsup", "westsup", "boss")]
    everywhere = {"case-manager": True, "ledger": True, "gateway": True}
    nowhere = dict.fromkeys(everywhere, False)
    assert await _sees_site(stack, east) == everywhere  # the camera's stale org path was corrected
    assert await _sees_site(stack, west) == nowhere

    await _detect(stack)  # an existing case of the site, before it moves

    async def opened() -> bool:
        seen = await _sees_cases(stack, east)
        return len(seen["case-manager"]) == 1 and seen["public-api"] == seen["case-manager"]

    await eventually(opened, timeout_s=WAIT_S, what="the site's case on the case-manager and the case board")
    case_ids = (await _sees_cases(stack, east))["case-manager"]
    no_cases = {"case-manager": set(), "public-api": set()}
    assert await _sees_cases(stack, west) == no_cases

    async with stack.client("cases") as c:
        r = await c.patch(f"/sites/{SITE}", json={"org_id": "west"}, headers=boss)
    assert r.status_code == 200, r.text

    async def moved() -> bool:
        return await _sees_site(stack, east) == nowhere and await _sees_site(stack, west) == everywhere

    await eventually(moved, timeout_s=WAIT_S, what="the old supervisor lost the site, the new one gained it")

    async def cases_moved() -> bool:
        return await _sees_cases(stack, east) == no_cases and await _sees_cases(stack, west) == {
            "case-manager": case_ids,
            "public-api": case_ids,
        }

    await eventually(cases_moved, timeout_s=WAIT_S, what="the site's existing case went with it")

    assert set((await _statuses(stack, west)).values()) == {200}
    async with httpx.AsyncClient(base_url=stack.public_url, timeout=WAIT_S) as http:
        params = {"access_token": west["Authorization"].removeprefix("Bearer ")}
        async with http.stream("GET", "/console/alarms/stream", params=params) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")

            async with stack.client("cases") as c:  # deactivated while their stream is open
                r = await c.post("/users/westsup/deactivate", headers=boss)
            assert r.status_code == 200, r.text

            async def refused() -> bool:
                return set((await _statuses(stack, west)).values()) == {401}

            await eventually(refused, timeout_s=WAIT_S, what="every service refuses the deactivated user")

            async def ended() -> list[str]:
                seen: list[str] = []
                async for line in lines:
                    seen.append(line)
                return seen

            tail = await asyncio.wait_for(ended(), WAIT_S)  # the server closed the stream
    events = [line.removeprefix("event: ") for line in tail if line.startswith("event: ")]
    assert events[-1] == "ended", tail
    data = json.loads(
        next(line for line in reversed(tail) if line.startswith("data: ")).removeprefix("data: ")
    )
    assert "停用" in data["reason"]
    # Someone the change did not touch still works.
    assert set((await _statuses(stack, boss)).values()) == {200}
