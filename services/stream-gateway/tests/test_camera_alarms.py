"""Camera alarms end to end, on a real RTSP server: a camera offline longer than BK_OFFLINE_ALARM_S,
a covered lens longer than BK_COVERED_ALARM_S and a stream resending one picture (frozen) each put a
camera.status.v1 with the alarm set and alarm_active=true on the bus; recovery puts the same alarm
with alarm_active=false. A live kitchen never raises frozen, even at short frozen thresholds."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from gateway_helpers import StatusLog, runtime, settings, until
from rtsp import RtspServer, free_port_pair
from test_frozen import resent_picture

from bk_gateway.service import create_service
from bk_gateway.sources.sim import load_scenario
from bk_gateway.synth_video import write_kitchen_video
from bkproto.events.v1 import camera_status_pb2 as ev

pytestmark = pytest.mark.integration
COVERED_S = 6.0


def write_covered_clip(path: Path, *, seconds: float = 40, fps: int = 10, w: int = 320, h: int = 180) -> Path:
    """A hand over the lens for the first COVERED_S seconds (near-uniform dark picture), then the kitchen."""
    render = load_scenario("cooking")
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = fps
        stream.codec_context.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "bf": "0",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0",
        }
        for i in range(int(seconds * fps)):
            t = i / fps
            if t < COVERED_S:
                img = np.clip(rng.normal(38, 1.5, (h, w, 3)), 0, 255).astype(np.uint8)
            else:
                img = render(t, w, h)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def alarms(log: StatusLog, camera_id: str, alarm: int) -> list[ev.CameraStatusChanged]:
    return [e for e in log.events if e.camera_id == camera_id and e.alarm == alarm]


async def test_offline_covered_and_frozen_alarms_raise_and_clear(tmp_path: Path) -> None:
    normal = write_kitchen_video(tmp_path / "kitchen.mkv", seconds=60, fps=10, gop_s=1.0)
    covered = write_covered_clip(tmp_path / "covered.mkv")
    frozen = resent_picture(tmp_path / "frozen.mkv", load_scenario("cooking")(0.0, 320, 180), 60, fps=10)
    port = free_port_pair()
    server = RtspServer(port, [f"off={normal}", f"cov={covered}", f"frz={frozen}"])
    server.start()
    rt = runtime(
        settings(tmp_path, offline_alarm_s=1.5, covered_alarm_s=1.5, frozen_alarm_s=1.5, frozen_after_s=2.0)
    )
    svc = create_service(rt)
    log = StatusLog(rt.bus)  # type: ignore[arg-type]
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras(
            [
                {
                    "id": c,
                    "tenant_id": "minghu",
                    "site_id": "s1",
                    "zone": "cooking",
                    "source_url": server.url(c),
                    "sample_fps": 2,
                }
                for c in ("off", "cov", "frz")
            ]
        )

        # --- frozen: one picture resent, its timestamps advancing -------------------------------------
        await until(
            lambda: any(e.alarm_active for e in alarms(log, "frz", ev.CAMERA_ALARM_FROZEN)),
            20,
            "frozen alarm raised",
        )
        raised = next(e for e in alarms(log, "frz", ev.CAMERA_ALARM_FROZEN) if e.alarm_active)
        assert raised.state == ev.CAMERA_STATE_DEGRADED and "frozen" in raised.reason

        # --- covered lens: raised after BK_COVERED_ALARM_S, cleared when the hand goes -------------
        await until(
            lambda: any(e.alarm_active for e in alarms(log, "cov", ev.CAMERA_ALARM_COVERED)),
            15,
            "covered alarm raised",
        )
        raised = next(e for e in alarms(log, "cov", ev.CAMERA_ALARM_COVERED) if e.alarm_active)
        assert raised.state == ev.CAMERA_STATE_DEGRADED and "covered" in raised.reason
        assert svc.fleet.workers[("minghu", "cov")].health.reason == "lens covered"
        await until(
            lambda: any(not e.alarm_active for e in alarms(log, "cov", ev.CAMERA_ALARM_COVERED)),
            20,
            "covered alarm cleared",
        )
        cleared = next(e for e in alarms(log, "cov", ev.CAMERA_ALARM_COVERED) if not e.alarm_active)
        assert cleared.state == ev.CAMERA_STATE_ONLINE and "cleared" in cleared.reason
        assert not alarms(log, "off", ev.CAMERA_ALARM_COVERED)  # the kitchen is never "covered"
        for cam in ("off", "cov"):  # nor frozen: its sensor noise changes every keyframe
            assert not alarms(log, cam, ev.CAMERA_ALARM_FROZEN), cam

        # --- offline: the RTSP server goes away longer than BK_OFFLINE_ALARM_S, then comes back -----
        server.stop()
        for cam in ("off", "cov"):
            await until(
                lambda cam=cam: any(e.alarm_active for e in alarms(log, cam, ev.CAMERA_ALARM_OFFLINE)),
                20,
                f"offline alarm raised for {cam}",
            )
            up = next(e for e in alarms(log, cam, ev.CAMERA_ALARM_OFFLINE) if e.alarm_active)
            assert up.state == ev.CAMERA_STATE_OFFLINE and up.previous_state == ev.CAMERA_STATE_OFFLINE
        assert "offline" in svc.status_of(await _camera(svc, "off")).alarms
        server.start()
        for cam in ("off", "cov"):
            await until(
                lambda cam=cam: any(not e.alarm_active for e in alarms(log, cam, ev.CAMERA_ALARM_OFFLINE)),
                30,
                f"offline alarm cleared for {cam}",
            )
        assert svc.status_of(await _camera(svc, "off")).alarms == []
        # exactly one raise and one clear of each alarm: no flapping
        assert [e.alarm_active for e in alarms(log, "off", ev.CAMERA_ALARM_OFFLINE)] == [True, False]
        assert [e.alarm_active for e in alarms(log, "cov", ev.CAMERA_ALARM_COVERED)][:2] == [True, False]
        for cam in ("off", "cov"):
            assert not alarms(log, cam, ev.CAMERA_ALARM_FROZEN), cam
    finally:
        await svc.stop()
        await rt.bus.stop()
        server.stop()


async def _camera(svc, camera_id: str):  # type: ignore[no-untyped-def]
    from bk_gateway import registry

    async with svc.db.session() as s:
        return await registry.get(session=s, tenant_id="minghu", camera_id=camera_id)
