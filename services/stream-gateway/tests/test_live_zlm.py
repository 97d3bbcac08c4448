"""Production live view through ZLMediaKit, against a faithful fake of its HTTP API on a real loopback
uvicorn: the first viewer adds the stream proxy, play hooks check the gateway's signature, the last
viewer leaving closes the relay, a returning viewer pulls it again, and ZLMediaKit's errors become
clear 502s, with no secret or camera password in a response or a log line."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fake_zlm import FakeZlm
from gateway_helpers import StatusLog, runtime, settings, token, until

from bk_gateway.service import create_service
from bkcore.auth import Role

ZLM_SECRET = "zlm-S3cret-0123456789"
HOOK_TOKEN = "hook-T0ken-abcdef"
PASSWORD = "Pa55-w0rd!"


@pytest.fixture
async def fake_zlm():  # type: ignore[no-untyped-def]
    fake = FakeZlm(secret=ZLM_SECRET, hook_token=HOOK_TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


async def test_zlm_on_demand_live_view(
    tmp_path: Path, fake_zlm: FakeZlm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake = fake_zlm
    rt = runtime(
        settings(
            tmp_path,
            media_server="zlmediakit",
            zlm_api_url=fake.url,
            zlm_public_url="https://live.example",
            zlm_secret=ZLM_SECRET,
            zlm_hook_token=HOOK_TOKEN,
            live_url_ttl_s=300,
        )
    )
    svc = create_service(rt)
    StatusLog(rt.bus)  # type: ignore[arg-type]
    await rt.bus.start()
    await svc.start()
    transport = httpx.ASGITransport(app=svc.app)
    try:
        await svc.seed_cameras(
            [
                {
                    "id": "cam-z",
                    "tenant_id": "minghu",
                    "site_id": "s1",
                    "zone": "cooking",
                    "source_url": "rtsp://127.0.0.1:9/Streaming/Channels/101",
                    "username": "admin",
                    "password": PASSWORD,
                },
                {
                    "id": "cam-sim",
                    "tenant_id": "minghu",
                    "site_id": "s1",
                    "zone": "cooking",
                    "scenario": "cooking",
                },
            ]
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            fake.hook_client, fake.hook_base = c, "http://gw/v1/zlm/hooks"
            staff = token(rt, Role.STAFF, tenant="minghu", site_ids=frozenset({"s1"}))

            # --- the first viewer starts the relay ------------------------------------------------
            r = await c.post("/v1/cameras/cam-z/live", headers=staff)
            assert r.status_code == 200, r.text
            body = r.json()
            assert PASSWORD not in r.text and ZLM_SECRET not in r.text and "admin" not in r.text
            flv, hls, rtc = urlsplit(body["flv_url"]), urlsplit(body["hls_url"]), urlsplit(body["webrtc_url"])
            assert body["flv_url"].startswith("https://live.example/live/minghu~cam-z.live.flv?exp=")
            assert body["hls_url"].startswith("https://live.example/live/minghu~cam-z/hls.m3u8?exp=")
            assert rtc.path == "/index/api/webrtc"
            rq = parse_qs(rtc.query)
            # the media server's stream name is tenant~camera: camera ids are unique per tenant only
            assert (rq["app"], rq["stream"], rq["type"]) == (["live"], ["minghu~cam-z"], ["play"])
            assert "sig" in rq
            assert "sig=" in flv.query and flv.query == hls.query
            assert fake.names() == ["getMediaList", "addStreamProxy"]
            add = fake.calls[1][1]
            assert (add["vhost"], add["app"], add["stream"]) == ("__defaultVhost__", "live", "minghu~cam-z")
            assert add["rtp_type"] == "0" and add["enable_hls"] == "1" and add["enable_rtmp"] == "1"
            assert add["enable_rtsp"] == "1" and add["enable_mp4"] == "0" and add["retry_count"] == "3"
            assert add["url"] == "rtsp://admin:Pa55-w0rd%21@127.0.0.1:9/Streaming/Channels/101"
            assert "__defaultVhost__/live/minghu~cam-z" in fake.proxies

            # a second viewer joins the same relay: no second proxy
            assert (await c.post("/v1/cameras/cam-z/live", headers=staff)).status_code == 200
            assert fake.names().count("addStreamProxy") == 1
            # simulated cameras cannot be relayed
            assert (await c.post("/v1/cameras/cam-sim/live", headers=staff)).status_code == 409

            # --- on_play: signed URLs play, anything else is refused -------------------------------
            assert await fake.play("live", "minghu~cam-z", flv.query, schema="rtmp")
            assert await fake.play("live", "minghu~cam-z", hls.query, schema="hls")
            assert await fake.play("live", "minghu~cam-z", rtc.query, schema="rtsp")  # WebRTC: all args
            assert not await fake.play("live", "minghu~cam-z", flv.query.replace("sig=", "sig=A"))
            assert not await fake.play("live", "minghu~cam-z", "")
            assert not await fake.play("live", "cam-other", flv.query)  # signed for another stream
            expired = svc.signer.query(svc.zlm_live.resource("minghu~cam-z"), int(time.time()) - 1)  # type: ignore[union-attr]
            assert not await fake.play("live", "minghu~cam-z", expired)
            refused = [a for n, _, a in fake.hooks if n == "on_play" and a["code"] != 0]
            assert refused and all(a == {"code": -1, "msg": "invalid or expired play URL"} for a in refused)
            assert all(
                a == {"code": 0, "msg": "success"}
                for n, _, a in fake.hooks
                if n == "on_play" and a["code"] == 0
            )
            bad_token = await c.post(
                "/v1/zlm/hooks/on_play?token=nope", json={"app": "live", "stream": "minghu~cam-z"}
            )
            assert bad_token.status_code == 403

            # --- the last viewer leaves: on_stream_none_reader closes the relay --------------------
            assert await fake.last_viewer_left("live", "minghu~cam-z")
            assert fake.hooks[-1][2] == {"code": 0, "close": True} and not fake.proxies
            assert ("minghu", "cam-z") not in svc.zlm_live.relays  # type: ignore[union-attr]
            # a stream that is not ours is left alone
            assert not await fake.last_viewer_left("rtp", "gb-34020000001320000001")

            # --- a viewer with a still-valid URL comes back: pulled again on demand -----------------
            assert await fake.play("live", "minghu~cam-z", flv.query)
            assert [n for n, _, _ in fake.hooks][-2:] == ["on_play", "on_stream_not_found"]
            assert fake.names().count("addStreamProxy") == 2 and fake.proxies
            # ...but an unsigned player never makes the gateway pull
            await fake.last_viewer_left("live", "minghu~cam-z")
            assert not await fake.play("live", "minghu~cam-z", "exp=1&sig=x")
            assert fake.names().count("addStreamProxy") == 2

            # --- snapshot: this replica has no frame (camera unreachable from here): ZLMediaKit's -----
            snap = urlsplit(body["snapshot_url"])
            s = await c.get(f"{snap.path}?{snap.query}")
            assert s.status_code == 200 and s.headers["content-type"] == "image/jpeg"
            assert s.content.startswith(b"\xff\xd8") and fake.names()[-1] == "getSnap"

            # --- ZLMediaKit errors: clear 502s, masked ---------------------------------------------
            fake.fail_next["addStreamProxy"] = (
                -1,
                f"play rtsp://admin:{PASSWORD}@127.0.0.1:9/Streaming/Channels/101 failed: 401 Unauthorized",
            )
            e = await c.post("/v1/cameras/cam-z/live", headers=staff)
            assert e.status_code == 502
            detail = e.json()["detail"]
            assert "ZLMediaKit addStreamProxy" in detail and "401 Unauthorized" in detail
            assert PASSWORD not in e.text and "admin:" not in e.text
            fake.fail_next["addStreamProxy"] = (-300, "Required parameter missed: url")
            e = await c.post("/v1/cameras/cam-z/live", headers=staff)
            assert e.status_code == 502 and "invalid arguments" in e.json()["detail"]
            fake.secret = "rotated"
            e = await c.post("/v1/cameras/cam-z/live", headers=staff)
            assert e.status_code == 502 and "authentication failed" in e.json()["detail"]
            assert ZLM_SECRET not in e.text
            fake.secret = ZLM_SECRET
            fake.down = True
            e = await c.post("/v1/cameras/cam-z/live", headers=staff)
            assert e.status_code == 502 and "HTTP 503" in e.json()["detail"]
            fake.down = False

            # --- disabling the camera closes its relay (no restart) --------------------------------
            assert (await c.post("/v1/cameras/cam-z/live", headers=staff)).status_code == 200
            assert fake.proxies
            admin = token(rt, Role.PLATFORM_ADMIN, tenant="minghu")
            off = await c.patch("/v1/cameras/cam-z", json={"enabled": False}, headers=admin)
            assert off.status_code == 200
            await until(lambda: not fake.proxies, 10, "relay closed after the camera was disabled")
            assert "close_streams" in fake.names()
            assert (await c.post("/v1/cameras/cam-z/live", headers=staff)).status_code == 409

            # ZLMediaKit gone entirely: still a clear 502
            on = await c.patch("/v1/cameras/cam-z", json={"enabled": True}, headers=admin)
            assert on.status_code == 200
            await fake.stop()
            e = await c.post("/v1/cameras/cam-z/live", headers=staff)
            assert e.status_code == 502 and "unreachable" in e.json()["detail"]
    finally:
        await svc.stop()
        await rt.bus.stop()
    # The API secret, the hook token and the camera password never reach a gateway log line (the
    # test's own client, standing in for viewers and ZLMediaKit, logs the hook URLs it calls).
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not (r.name == "httpx" and "http://gw/" in r.getMessage())
    )
    assert "/index/api/addStreamProxy" in ours  # the gateway's API calls are logged, bare
    for secret in (ZLM_SECRET, HOOK_TOKEN, PASSWORD, "Pa55-w0rd%21"):
        assert secret not in ours
    # every API call carried the secret in its body, none in the URL
    assert all(p.get("secret") in (ZLM_SECRET,) for _, p in fake.calls[:3])
