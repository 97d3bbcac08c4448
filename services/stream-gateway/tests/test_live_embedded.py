"""Embedded live view: a viewer gets signed HLS URLs for an RTSP camera, reads the playlist and a
segment (a real H.264 stream, checked with PyAV), the URL dies at expiry, and the pull stops after
the grace period without viewers."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from urllib.parse import urlsplit

import av
import httpx
import pytest
from gateway_helpers import StatusLog, runtime, settings, token, until
from rtsp import RtspServer, free_port_pair

from bk_gateway.service import create_service
from bk_gateway.synth_video import write_kitchen_video
from bkcore.auth import Role

pytestmark = pytest.mark.integration


async def test_signed_hls_live_view_from_rtsp(tmp_path: Path) -> None:
    video = write_kitchen_video(tmp_path / "k.mkv", seconds=30, fps=10, gop_s=1.0)
    port = free_port_pair()
    server = RtspServer(port, [f"live={video}"])
    server.start()
    rt = runtime(settings(tmp_path, live_url_ttl_s=6, live_grace_s=1.0, live_segment_s=1.0))
    svc = create_service(rt)
    StatusLog(rt.bus)  # type: ignore[arg-type]
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras(
            [
                {
                    "id": "cam-live",
                    "tenant_id": "minghu",
                    "site_id": "s1",
                    "zone": "cooking",
                    "source_url": server.url("live"),
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
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            staff = token(rt, Role.STAFF, tenant="minghu", site_ids=frozenset({"s1"}))
            assert (await c.post("/v1/cameras/cam-live/live")).status_code == 401
            other = token(rt, Role.STAFF, tenant="minghu", site_ids=frozenset({"s2"}))
            assert (await c.post("/v1/cameras/cam-live/live", headers=other)).status_code == 404

            r = await c.post("/v1/cameras/cam-live/live", headers=staff)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["flv_url"] is None and "sig=" in body["hls_url"] and "exp=" in body["snapshot_url"]
            hls = urlsplit(body["hls_url"])
            assert hls.path == "/v1/live/minghu/cam-live/index.m3u8"
            url = f"{hls.path}?{hls.query}"

            # Unsigned or tampered: refused.
            assert (await c.get(hls.path)).status_code == 403
            assert (await c.get(url.replace("sig=", "sig=x"))).status_code == 403
            assert (await c.get("/v1/live/minghu/cam-sim/index.m3u8?" + hls.query)).status_code == 403

            playlist = ""

            async def fetch() -> bool:
                nonlocal playlist
                resp = await c.get(url)
                playlist = resp.text if resp.status_code == 200 else ""
                return "#EXTINF" in playlist

            deadline = asyncio.get_running_loop().time() + 15
            while not await fetch():
                assert asyncio.get_running_loop().time() < deadline, "no playlist"
                await asyncio.sleep(0.3)
            seg_line = next(ln for ln in playlist.splitlines() if ln.startswith("seg_"))
            assert "sig=" in seg_line
            seg = await c.get(f"/v1/live/minghu/cam-live/{seg_line}")
            assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t"
            assert (await c.get(f"/v1/live/minghu/cam-live/{seg_line.split('?')[0]}")).status_code == 403
            with av.open(io.BytesIO(seg.content), format="mpegts") as ts:
                v = ts.streams.video[0]
                assert v.codec_context.name == "h264" and v.codec_context.width == 320
                assert sum(1 for _ in ts.demux(v)) > 0
            session = svc.embedded_live.sessions[("minghu", "cam-live")]
            assert session.codec == "h264" and session.alive

            # A second viewer joins the same pull.
            r2 = await c.post("/v1/cameras/cam-live/live", headers=staff)
            assert r2.status_code == 200 and svc.embedded_live.sessions[("minghu", "cam-live")] is session

            # After expiry the URL is refused; with no viewer left the pull stops after the grace.
            exp = int(dict(p.split("=") for p in hls.query.split("&"))["exp"])
            await until(lambda: svc.signer._clock() > exp, 10, "URL expiry")
            assert (await c.get(url)).status_code == 403
            assert (await c.get(f"/v1/live/minghu/cam-live/{seg_line}")).status_code == 403
            # Unlisted first, then its thread joined and files removed off the loop: wait for both.
            gone = ("minghu", "cam-live")  # (tenant, camera): camera ids are unique per tenant only
            await until(lambda: gone not in svc.embedded_live.sessions, 10, "live pull unlisted")
            await until(lambda: not session.alive and not session.dir.exists(), 10, "live pull stopped")
    finally:
        await svc.stop()
        await rt.bus.stop()
        server.stop()
