"""/readyz: yes/no per dependency, and for a check that can tell it, why it is not ready."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bkcore.http import Check, create_app


async def readyz(checks: Mapping[str, bool | Check]) -> httpx.Response:
    async def readiness() -> Mapping[str, bool | Check]:
        return checks

    app = create_app(service="t", title="t", readiness=readiness)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.get("/readyz")


async def test_a_failing_check_says_why() -> None:
    r = await readyz({"database": True, "detectors": Check(False, "no detector has answered for 31 s")})
    assert r.status_code == 503
    assert r.json() == {
        "ready": False,
        "checks": {"database": True, "detectors": False},
        "reasons": {"detectors": "no detector has answered for 31 s"},
    }


async def test_plain_and_passing_checks_keep_the_plain_shape() -> None:
    r = await readyz({"database": True, "detectors": Check(True)})
    assert r.status_code == 200 and r.json() == {
        "ready": True,
        "checks": {"database": True, "detectors": True},
    }
    r = await readyz({"database": False})
    assert r.status_code == 503 and r.json() == {"ready": False, "checks": {"database": False}}
