"""The alarm stream asks the directory again while it lasts (#18.2): a user moved to another unit
sees from then on what they may see now; a deactivated user's stream ends with an ``ended`` event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import HTTPException

from bk_public.alarms import AlarmHub, sse_stream
from bkcore.auth import Principal, Role

SUP = Principal("t:sup", "t", Role.SUPERVISOR, org_path="/t/east")


def _case(site: str, org_path: str) -> dict[str, str]:
    return {"tenant_id": "t", "site_id": site, "org_path": org_path, "case_id": f"c-{site}"}


async def _next(frames: AsyncIterator[bytes]) -> str:
    return (await asyncio.wait_for(anext(frames), 10)).decode()


async def test_a_moved_then_deactivated_user_sees_what_they_may_then_the_stream_ends() -> None:
    hub = AlarmHub()
    directory = {"active": True, "asked": 0}
    west = Principal("t:sup", "t", Role.SUPERVISOR, org_path="/t/west")

    async def recheck(p: Principal) -> Principal:
        directory["asked"] += 1
        if not directory["active"]:
            raise HTTPException(401, detail="账号已停用 · this user has been deactivated")
        return west  # moved to the west unit since the token was issued

    frames = sse_stream(hub, SUP, heartbeat_s=5, recheck=recheck, recheck_s=0.05)
    assert "event: hello" in await _next(frames)
    await asyncio.sleep(0.1)  # due: the next step asks the directory
    assert (await _next(frames)).startswith(": keep-alive") and directory["asked"] >= 1
    hub.publish(_case("east-school", "/t/east"))  # no longer theirs
    hub.publish(_case("west-school", "/t/west"))  # theirs now
    got = await _next(frames)
    while got.startswith(":"):
        got = await _next(frames)
    assert "event: case" in got and "west-school" in got and "east-school" not in got

    directory["active"] = False  # deactivated
    frame = await _next(frames)
    while frame.startswith(":"):  # heartbeats until the next ask
        frame = await _next(frames)
    assert "event: ended" in frame
    assert "停用" in json.loads(frame.split("data: ", 1)[1])["reason"]
    assert [f async for f in frames] == []  # closed
    assert hub.subscribers == 0
