"""The public edge under attack: tokens in query strings, invite-code guessing, a rotated
X-Forwarded-For. Each test sends what an attacker sends and checks the refusal it must get."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from public_helpers import NOON, FakeUpstream, invite, parent_login, staff_token

from bk_public.service import PublicService
from bk_public.settings import PublicSettings
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.settings import CoreSettings
from bkcore.testing.tokens import new_token_issuer

GLOBAL_LIMIT = 12


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[PublicService]:
    clock = FakeClock(NOON)
    store = LocalObjectStore(
        tmp_path / "objects", "s" * 32, "http://test", clock=lambda: clock.now().timestamp()
    )
    runtime = Runtime(
        settings=CoreSettings(data_dir=tmp_path),
        bus=InProcessBus(None),
        store=store,
        tokens=new_token_issuer(),
        clock=clock,
    )
    settings = PublicSettings(
        data_dir=tmp_path,
        rate_user_per_min=10_000,
        rate_ip_per_min=100_000,
        rate_write_per_min=10_000,
        invite_failures_global=GLOBAL_LIMIT,
        invite_failures_per_parent=5,
        invite_failures_per_ip=1000,
        trusted_proxy_hops=1,
    )
    service = PublicService(runtime, settings, upstream=FakeUpstream())
    await runtime.bus.start()
    await service.start()
    yield service
    await service.stop()
    await runtime.bus.stop()


@pytest.fixture
async def client(svc: PublicService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test") as c:
        yield c


async def test_attack_token_in_the_query_string_of_a_staff_route(
    client: httpx.AsyncClient, svc: PublicService
) -> None:
    token = staff_token(svc)["Authorization"][7:]
    for path in ("/console/cases", "/console/map"):
        r = await client.get(path, params={"access_token": token})
        assert r.status_code == 401, (path, r.text)
        assert "Authorization header" in r.json()["detail"]
        assert (await client.get(path, headers=staff_token(svc))).status_code == 200
    parent = (await parent_login(client))["Authorization"][7:]
    assert (await client.get("/bindings", params={"access_token": parent})).status_code == 401
    assert (await client.get("/bindings", headers={"Authorization": f"Bearer {parent}"})).status_code == 200


async def test_the_alarm_stream_alone_takes_a_query_token(svc: PublicService) -> None:
    """EventSource cannot send headers: the stream accepts ``?access_token=`` (on a real server, as
    a browser reaches it), and refuses a forged one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(svc.app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.025)
        assert server.started, "the test server did not start on loopback"
        token = staff_token(svc)["Authorization"][7:]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            bad = await c.get("/console/alarms/stream", params={"access_token": token[:-4] + "AAAA"})
            assert bad.status_code == 401
            async with c.stream("GET", "/console/alarms/stream", params={"access_token": token}) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                first = await asyncio.wait_for(anext(r.aiter_bytes()), 10)
                assert b"hello" in first
    finally:
        svc.app.state.stopping.set()
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def test_attack_invite_code_guessing_hits_the_global_limit(
    client: httpx.AsyncClient, svc: PublicService
) -> None:
    """Guessers spread over many mini-program accounts and addresses: each stays under its own
    limit, yet past GLOBAL_LIMIT wrong codes binding pauses for everyone (429, Retry-After)."""
    real = await invite(client, svc)
    for i in range(GLOBAL_LIMIT):
        guesser = await parent_login(client, f"guesser-{i}")
        r = await client.post(
            "/bindings",
            json={"invite_code": f"ZZZZ{i:04d}"},
            headers={**guesser, "X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert r.status_code == 400, r.text
    honest = await parent_login(client, "honest-parent")
    r = await client.post(
        "/bindings", json={"invite_code": real}, headers={**honest, "X-Forwarded-For": "7.7.7.7"}
    )
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # Once the pause is over a real code binds again.
    clock = svc.runtime.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(seconds=int(r.headers["Retry-After"]) + 1))
    ok = await client.post("/bindings", json={"invite_code": real}, headers=honest)
    assert ok.status_code == 201, ok.text


async def test_attack_one_parent_guessing_is_stopped_first(
    client: httpx.AsyncClient, svc: PublicService
) -> None:
    real = await invite(client, svc)
    guesser = await parent_login(client, "guesser")
    codes = [
        (await client.post("/bindings", json={"invite_code": f"QQQQ{i:04d}"}, headers=guesser)).status_code
        for i in range(8)
    ]
    assert codes == [400] * 5 + [429] * 3
    assert (await client.post("/bindings", json={"invite_code": real}, headers=guesser)).status_code == 429
    other = await parent_login(client, "someone-else")
    assert (await client.post("/bindings", json={"invite_code": real}, headers=other)).status_code == 201
