"""One camera, two streams: analytics decodes the small sub-stream, viewers watch the main stream.

Registry: both URLs are stored without credentials and returned masked, the camera keeps one login,
other credentials in the live URL are refused, and the live URL can be changed or removed.
Embedded live view: against a real RTSP server with a 320x180 sub-stream and a 640x360 main stream,
the pull worker reports 320x180 while the HLS segments a viewer reads are 640x360.
ZLMediaKit: the relay is added for the main stream, with the camera's credentials.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from urllib.parse import urlsplit

import av
import httpx
import pytest
from fake_zlm import FakeZlm
from gateway_helpers import StatusLog, runtime, settings, token, until
from rtsp import RtspServer, free_port_pair

from bk_gateway import registry
from bk_gateway.service import create_service
from bk_gateway.synth_video import write_kitchen_video
from bkcore.auth import Role

PASSWORD = "s3cret-Pw"


def _camera(**kw: object) -> dict[str, object]:
    return {"id": "cam-d", "tenant_id": "minghu", "site_id": "s1", "zone": "cooking", **kw}


async def test_registry_keeps_both_streams_with_one_login(tmp_path: Path) -> None:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            admin = token(rt)
            body = _camera(
                source_url=f"rtsp://admin:{PASSWORD}@10.0.0.7:554/Streaming/Channels/102",
                live_source_url="rtsp://10.0.0.7:554/Streaming/Channels/101",
                enabled=False,
            )
            r = await c.put("/v1/cameras/cam-d", json=body, headers=admin)
            assert r.status_code == 200, r.text
            out = r.json()
            assert PASSWORD not in r.text and out["has_credentials"] is True
            assert out["source_url"] == "rtsp://10.0.0.7:554/Streaming/Channels/102"
            assert out["live_source_url"] == "rtsp://10.0.0.7:554/Streaming/Channels/101"
            async with svc.db.session() as s:
                [spec] = await registry.specs(session=s)
            assert spec.pull_url == f"rtsp://admin:{PASSWORD}@10.0.0.7:554/Streaming/Channels/102"
            assert spec.live_pull_url == f"rtsp://admin:{PASSWORD}@10.0.0.7:554/Streaming/Channels/101"

            # other credentials in the live URL: refused, by name, and nothing changes
            bad = dict(body, live_source_url="rtsp://root:Zq9-alt@10.0.0.7:554/Streaming/Channels/101")
            r = await c.put("/v1/cameras/cam-d", json=bad, headers=admin)
            assert r.status_code == 422 and "share one username/password" in r.text
            assert "Zq9-alt" not in r.text and PASSWORD not in r.text
            r = await c.patch(
                "/v1/cameras/cam-d",
                headers=admin,
                json={"live_source_url": "rtsp://root:Zq9-alt@10.0.0.7/101"},
            )
            assert r.status_code == 422
            r = await c.patch("/v1/cameras/cam-d", headers=admin, json={"live_source_url": "ftp://x/y"})
            assert r.status_code == 422
            # the same credentials in both URLs are fine (one login)
            r = await c.patch(
                "/v1/cameras/cam-d",
                headers=admin,
                json={"live_source_url": f"rtsp://admin:{PASSWORD}@10.0.0.8:554/Streaming/Channels/101"},
            )
            assert r.status_code == 200 and r.json()["live_source_url"].startswith("rtsp://10.0.0.8")
            assert PASSWORD not in r.text
            # "" removes it: viewers watch the analytics source again
            r = await c.patch("/v1/cameras/cam-d", headers=admin, json={"live_source_url": ""})
            assert r.status_code == 200 and r.json()["live_source_url"] == ""
            async with svc.db.session() as s:
                [spec] = await registry.specs(session=s)
            assert spec.live_pull_url == spec.pull_url
    finally:
        await svc.stop()
        await rt.bus.stop()


@pytest.mark.integration
async def test_analytics_pulls_the_sub_stream_viewers_get_the_main_stream(tmp_path: Path) -> None:
    sub = write_kitchen_video(tmp_path / "sub.mkv", seconds=30, fps=10, gop_s=1.0, width=320, height=180)
    main = write_kitchen_video(tmp_path / "main.mkv", seconds=30, fps=10, gop_s=1.0, width=640, height=360)
    port = free_port_pair()
    server = RtspServer(port, [f"sub={sub}", f"main={main}"])
    server.start()
    rt = runtime(settings(tmp_path, live_segment_s=1.0))
    svc = create_service(rt)
    StatusLog(rt.bus)  # type: ignore[arg-type]
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras([_camera(source_url=server.url("sub"), live_source_url=server.url("main"))])
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            staff = token(rt, Role.STAFF, tenant="minghu", site_ids=frozenset({"s1"}))
            status: dict = {}

            async def online() -> bool:
                nonlocal status
                r = await c.get("/v1/cameras/cam-d/status", headers=staff)
                status = r.json() if r.status_code == 200 else {}
                return status.get("state") == "online" and status.get("width", 0) > 0

            deadline = asyncio.get_running_loop().time() + 20
            while not await online():
                assert asyncio.get_running_loop().time() < deadline, f"camera not online: {status}"
                await asyncio.sleep(0.3)
            assert (status["width"], status["height"]) == (320, 180)  # analytics: the sub-stream
            assert status["decoder"] == "software"

            r = await c.post("/v1/cameras/cam-d/live", headers=staff)
            assert r.status_code == 200, r.text
            hls = urlsplit(r.json()["hls_url"])
            url = f"{hls.path}?{hls.query}"
            playlist = ""
            deadline = asyncio.get_running_loop().time() + 15
            while "#EXTINF" not in playlist:
                assert asyncio.get_running_loop().time() < deadline, "no playlist"
                await asyncio.sleep(0.3)
                resp = await c.get(url)
                playlist = resp.text if resp.status_code == 200 else ""
            seg_line = next(ln for ln in playlist.splitlines() if ln.startswith("seg_"))
            seg = await c.get(f"/v1/live/minghu/cam-d/{seg_line}")
            assert seg.status_code == 200
            with av.open(io.BytesIO(seg.content), format="mpegts") as ts:
                v = ts.streams.video[0]
                assert (v.codec_context.width, v.codec_context.height) == (640, 360)  # viewers: main
    finally:
        await svc.stop()
        await rt.bus.stop()
        server.stop()


async def test_zlmediakit_relays_the_main_stream(tmp_path: Path) -> None:
    fake = FakeZlm(secret="zlm-S3cret-0123456789", hook_token="hook-T0ken-abcdef")
    await fake.start()
    rt = runtime(
        settings(
            tmp_path,
            media_server="zlmediakit",
            zlm_api_url=fake.url,
            zlm_public_url="https://live.example",
            zlm_secret="zlm-S3cret-0123456789",
            zlm_hook_token="hook-T0ken-abcdef",
        )
    )
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras(
            [
                _camera(
                    source_url="rtsp://127.0.0.1:9/Streaming/Channels/102",
                    live_source_url="rtsp://127.0.0.1:9/Streaming/Channels/101",
                    username="admin",
                    password=PASSWORD,
                )
            ]
        )
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            staff = token(rt, Role.STAFF, tenant="minghu", site_ids=frozenset({"s1"}))
            r = await c.post("/v1/cameras/cam-d/live", headers=staff)
            assert r.status_code == 200, r.text
            [proxy] = fake.proxies.values()
            assert proxy.url == f"rtsp://admin:{PASSWORD}@127.0.0.1:9/Streaming/Channels/101"
            # re-pointing the main stream closes the stale relay at the next reconcile
            r = await c.patch(
                "/v1/cameras/cam-d",
                headers=token(rt),
                json={"live_source_url": "rtsp://127.0.0.1:9/Streaming/Channels/103"},
            )
            assert r.status_code == 200
            await until(lambda: not fake.proxies, 10, "stale relay closed")
    finally:
        await svc.stop()
        await rt.bus.stop()
        await fake.stop()
