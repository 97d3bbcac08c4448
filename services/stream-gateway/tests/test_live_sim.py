"""Embedded live view of a simulated camera: the one place the gateway encodes (libx264).

A viewer of a ``sim:`` camera gets the same signed HLS URLs as for a real camera; the playlist is
there at once, its segments are H.264 (checked with PyAV), further viewers join the same encoder,
viewer requests keep it running, and it stops (files gone) after the grace period without viewers.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from urllib.parse import urlsplit

import av
import httpx
import pytest
from gateway_helpers import StatusLog, runtime, settings, token, until

from bk_gateway.liveview.embedded import SIM_LIVE_FPS, SIM_LIVE_SIZE, SimLiveSession
from bk_gateway.service import create_service
from bkcore.auth import Role

pytestmark = pytest.mark.integration


async def test_sim_camera_live_view_encodes_h264_hls_and_stops_after_grace(tmp_path: Path) -> None:
    rt = runtime(settings(tmp_path, live_url_ttl_s=60, live_grace_s=1.0, live_segment_s=1.0))
    svc = create_service(rt)
    StatusLog(rt.bus)  # type: ignore[arg-type]
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras(
            [
                {
                    "id": "cam-sim",
                    "tenant_id": "minghu",
                    "site_id": "s1",
                    "zone": "cooking",
                    "scenario": "cooking",
                }
            ]
        )
        cam = ("minghu", "cam-sim")  # (tenant, camera): camera ids are unique per tenant only
        await until(lambda: svc.fleet.workers[cam].latest is not None, 10, "a first simulated frame")
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            staff = token(rt, Role.STAFF, tenant="minghu", site_ids=frozenset({"s1"}))
            assert (await c.post("/v1/cameras/cam-sim/live")).status_code == 401

            r = await c.post("/v1/cameras/cam-sim/live", headers=staff)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["flv_url"] is None and "sig=" in body["hls_url"] and "exp=" in body["snapshot_url"]
            hls = urlsplit(body["hls_url"])
            assert hls.path == "/v1/live/minghu/cam-sim/index.m3u8"
            url = f"{hls.path}?{hls.query}"
            assert (await c.get(hls.path)).status_code == 403
            assert (await c.get(url.replace("sig=", "sig=x"))).status_code == 403

            session = svc.embedded_live.sessions[("minghu", "cam-sim")]
            assert isinstance(session, SimLiveSession) and session.codec == "h264"
            # The scenario clock starts where the camera's pull worker is: viewers see what detectors see.
            worker_t = svc.fleet.workers[("minghu", "cam-sim")].latest.time_s  # type: ignore[union-attr]
            assert 0 < session.start_at <= worker_t + 0.01

            # open() returned once the first segment was out: the URL plays at once, no 503.
            resp = await c.get(url)
            assert resp.status_code == 200, resp.text
            assert resp.headers["content-type"].startswith("application/vnd.apple.mpegurl")
            playlist = resp.text
            assert "#EXTINF" in playlist
            seg_line = next(ln for ln in playlist.splitlines() if ln.startswith("seg_"))
            assert "sig=" in seg_line
            assert (await c.get(f"/v1/live/minghu/cam-sim/{seg_line.split('?')[0]}")).status_code == 403
            seg = await c.get(f"/v1/live/minghu/cam-sim/{seg_line}")
            assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t"
            with av.open(io.BytesIO(seg.content), format="mpegts") as ts:
                v = ts.streams.video[0]
                assert v.codec_context.name == "h264"
                assert (v.codec_context.width, v.codec_context.height) == SIM_LIVE_SIZE
                frames = list(ts.decode(v))
            assert frames and frames[0].key_frame  # every segment opens on a keyframe
            assert frames[0].to_ndarray(format="rgb24").std() > 5  # a picture, not a flat field
            assert len(frames) <= SIM_LIVE_FPS * 2  # about one 1 s segment at the live rate

            # A second viewer joins the same encoder.
            r2 = await c.post("/v1/cameras/cam-sim/live", headers=staff)
            assert r2.status_code == 200 and svc.embedded_live.sessions[("minghu", "cam-sim")] is session

            # A viewer that keeps polling keeps it running well past the grace period ...
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                assert (await c.get(url)).status_code == 200
                await asyncio.sleep(0.4)
            assert session.alive and svc.embedded_live.sessions.get(("minghu", "cam-sim")) is session
            packets = session.packets
            assert packets > 2 * SIM_LIVE_FPS  # encoding in real time all along

            # ... and once nobody asks any more, the encoder stops after the grace period.
            # The reaper unlists the session first (no new viewer can join a dying encoder), then
            # joins its thread and removes its files off the event loop: wait for all three.
            await until(lambda: cam not in svc.embedded_live.sessions, 10, "live encoder unlisted")
            await until(lambda: not session.alive and not session.dir.exists(), 10, "live encoder stopped")
            assert (await c.get(url)).status_code == 404
            # The camera itself keeps being pulled for the detectors.
            assert svc.fleet.workers[("minghu", "cam-sim")].latest is not None
    finally:
        await svc.stop()
        await rt.bus.stop()
