"""The HTTP adapter to the other services calls their routes as the owners define them.

case-manager ``/sites``, ``/cases/{id}``; stream-gateway ``POST /v1/cameras/{id}/live`` and
``/v1/cameras/{id}/snapshot.jpg``; ledger ``/v1/public/sites/{id}/summary``. A live view the gateway
refuses (409: a simulated camera) is a 409 for the parent, who gets stills instead.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from public_helpers import invite, parent_login

from bk_public.upstream import HttpUpstream, LiveUnavailable, UpstreamError
from bkcore.auth import CASE_MANAGER, LEDGER, PUBLIC_API, STREAM_GATEWAY, Role, Scope
from bkcore.service_tokens import SERVICE_IDENTITIES, LocalTokenSource
from bkcore.testing.tokens import new_token_issuer

JPEG = b"\xff\xd8\xff\xe0fake-jpeg"
BASES = {"cases": "http://cm/api/cases", "ledger": "http://lg/api/ledger", "gateway": "http://gw/api/gateway"}
AUDIENCE = {"cm": CASE_MANAGER, "lg": LEDGER, "gw": STREAM_GATEWAY}  # each host checks its own name


def _upstream(tmp_path: Path, handler) -> tuple[HttpUpstream, list[httpx.Request]]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []
    tokens = new_token_issuer()

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        token = request.headers["authorization"][7:]
        return handler(request, tokens.verify(token, audience=AUDIENCE[request.url.host]))

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    source = LocalTokenSource(tokens, SERVICE_IDENTITIES[PUBLIC_API])
    return HttpUpstream(tokens=source, base_urls=lambda: BASES, client=client), seen


async def test_routes_of_the_owning_services(tmp_path: Path) -> None:
    def handler(request: httpx.Request, who) -> httpx.Response:  # type: ignore[no-untyped-def]
        assert who.role == Role.SERVICE and who.tenant_id == "minghu"
        # Read scopes only: the public edge never holds a write scope.
        assert Scope.CAMERAS_READ in who.scopes and Scope.CAMERAS_WRITE not in who.scopes
        routes = {
            ("POST", "/api/gateway/v1/cameras/cam-1/live"): httpx.Response(
                200,
                json={
                    "hls_url": "http://gw/v1/live/cam-1/index.m3u8?exp=1&sig=x",
                    "flv_url": None,
                    "snapshot_url": "http://gw/v1/live/cam-1/snapshot.jpg?exp=1&sig=x",
                    "expires_at": "2026-09-01T04:02:00Z",
                },
            ),
            ("GET", "/api/gateway/v1/cameras/cam-1/snapshot.jpg"): httpx.Response(
                200, content=JPEG, headers={"content-type": "image/jpeg"}
            ),
            ("GET", "/api/ledger/v1/public/sites/s1/summary"): httpx.Response(
                200, json={"site_id": "s1", "morning_check": {"checked": 3, "fit": 3}}
            ),
            ("GET", "/api/cases/sites"): httpx.Response(200, json=[{"id": "s1"}]),
            ("GET", "/api/cases/cases/c-1"): httpx.Response(200, json={"id": "c-1"}),
        }
        return routes.get((request.method, request.url.path), httpx.Response(404, json={"detail": "nope"}))

    up, seen = _upstream(tmp_path, handler)
    live = await up.live("minghu", "cam-1", 120)
    assert live["hls"].endswith("index.m3u8?exp=1&sig=x")
    # The gateway, mounted under /api/gateway, named its play URLs from its host's root: put back.
    assert live["hls"] == "http://gw/api/gateway/v1/live/cam-1/index.m3u8?exp=1&sig=x"
    assert "snapshot" not in live  # the gateway's still is the raw frame: parents get ours, blurred
    assert live["flv"] == "" and live["expires_at"] == "2026-09-01T04:02:00Z"

    assert await up.snapshot("minghu", "cam-1") == JPEG  # raw bytes: bk_public.queries blurs them
    assert await up.snapshot("minghu", "cam-without-frame") is None

    summary = await up.ledger_public("minghu", "s1", "2026-09-01")
    assert summary["morning_check"] == {"checked": 3, "fit": 3}
    ledger_call = next(r for r in seen if r.url.path.endswith("/summary"))
    assert ledger_call.url.params["day"] == "2026-09-01"

    assert await up.sites("minghu") == [{"id": "s1"}]
    assert await up.case("minghu", "c-1") == {"id": "c-1"}
    assert await up.case("minghu", "c-2") is None
    await up.aclose()


async def test_gateway_refusals(tmp_path: Path) -> None:
    def handler(request: httpx.Request, who) -> httpx.Response:  # type: ignore[no-untyped-def]
        if request.url.path.endswith("/sim-1/live"):
            return httpx.Response(409, json={"detail": "simulated (sim:) cameras have no H.264 stream"})
        return httpx.Response(500)

    up, _ = _upstream(tmp_path, handler)
    with pytest.raises(LiveUnavailable) as refused:
        await up.live("minghu", "sim-1", 120)
    assert refused.value.status == 409 and "simulated" in refused.value.message
    with pytest.raises(UpstreamError):
        await up.live("minghu", "broken", 120)
    with pytest.raises(UpstreamError):
        await up.snapshot("minghu", "broken")
    await up.aclose()


async def test_parent_gets_409_when_the_camera_has_no_live_stream(client, svc) -> None:  # type: ignore[no-untyped-def]
    async def refuse(tenant_id: str, camera_id: str, ttl_s: int) -> dict[str, str]:
        raise LiveUnavailable(409, "simulated (sim:) cameras have no H.264 stream to remux")

    h = await parent_login(client)
    code = await invite(client, svc, "s1")
    assert (await client.post("/bindings", json={"invite_code": code}, headers=h)).status_code == 201
    svc.ctx.upstream.live = refuse
    r = await client.get("/sites/s1/cameras/s1-prep/live", headers=h)
    assert r.status_code == 409 and "no live stream" in r.json()["detail"]
