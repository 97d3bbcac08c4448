"""Real RTSP: the gateway pulls streams from Debian's GStreamer RTSP server, follows it going away
and coming back, and gives broken cameras a clear error state while the others carry on."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_helpers import FakeDetector, StatusLog, runtime, settings, start_detector, until
from rtsp import RtspServer, free_port_pair

from bk_gateway.service import GatewayService, create_service
from bk_gateway.synth_video import write_kitchen_video
from bkproto.events.v1 import camera_status_pb2 as ev

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    return {
        "h264": write_kitchen_video(d / "kitchen.mkv", seconds=60, fps=10, gop_s=1.0),
        "vp8": write_kitchen_video(d / "kitchen.webm", seconds=20, fps=10, codec="libvpx"),
    }


def cam(i: str, url: str, **kw: object) -> dict[str, object]:
    return {
        "id": i,
        "tenant_id": "minghu",
        "site_id": "s1",
        "zone": "cooking",
        "source_url": url,
        "sample_fps": 2,
        **kw,
    }


async def start(tmp: Path, endpoint: str) -> tuple[GatewayService, StatusLog]:
    rt = runtime(settings(tmp, detector_endpoints=endpoint))
    svc = create_service(rt)
    log = StatusLog(rt.bus)  # type: ignore[arg-type]
    await rt.bus.start()
    await svc.start()
    return svc, log


async def stop(svc: GatewayService) -> None:
    await svc.stop()
    await svc.runtime.bus.stop()


def states(svc: GatewayService) -> dict[str, str]:
    return {key.camera_id: w.health.state.value for key, w in svc.fleet.workers.items()}


async def test_four_rtsp_cameras_go_offline_and_back(tmp_path: Path, videos: dict[str, Path]) -> None:
    port = free_port_pair()
    names = [f"cam{i}" for i in range(4)]
    server = RtspServer(port, [f"{n}={videos['h264']}" for n in names])
    server.start()
    detector = FakeDetector()
    grpc_server, endpoint = await start_detector(detector)
    svc, log = await start(tmp_path, endpoint)
    try:
        await svc.seed_cameras(
            [cam(n, server.url(n), sampling_mode=("keyframes" if n == "cam0" else "fps")) for n in names]
        )
        await until(lambda: set(states(svc).values()) == {"online"}, 30, "4 cameras online")
        await until(lambda: {f.camera_id for f in detector.frames} == set(names), 10, "frames from all 4")
        w = svc.fleet.workers[("minghu", "cam1")]
        st = w.stats
        assert (st.codec, st.decoder, st.width, st.height) == ("h264", "software", 320, 180)

        server.stop()
        await until(lambda: set(states(svc).values()) == {"offline"}, 20, "4 cameras offline")
        await until(
            lambda: all(ev.CAMERA_STATE_OFFLINE in log.states(n) for n in names),
            10,
            "offline events on camera.status.v1",
        )

        server.start()  # same port; the gateway is not restarted
        await until(lambda: set(states(svc).values()) == {"online"}, 30, "4 cameras back online")
        await until(
            lambda: all(log.states(n)[-1] == ev.CAMERA_STATE_ONLINE for n in names),
            10,
            "online events after the outage",
        )
        for n in names:
            seq = log.states(n)
            assert seq.index(ev.CAMERA_STATE_OFFLINE) < len(seq) - 1 - seq[::-1].index(ev.CAMERA_STATE_ONLINE)
            assert svc.fleet.workers[("minghu", n)].stats.reconnects >= 1
    finally:
        await stop(svc)
        server.stop()
        await grpc_server.stop(None)


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """A TCP server that answers every connection with random bytes (a broken device)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(bytes(range(256)) * 64)
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join(2)
    sock.close()


async def test_broken_cameras_get_clear_errors_and_others_carry_on(
    tmp_path: Path,
    videos: dict[str, Path],
    garbage_server: int,
) -> None:
    port = free_port_pair()
    server = RtspServer(
        port,
        [
            f"good={videos['h264']}",
            f"locked={videos['h264']}:user:right",
            f"vp8={videos['vp8']}",
            "audio=audio:",
        ],
        codecs=["vp8=vp8"],
    )
    server.start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # closed again: nothing listens there
    svc, _ = await start(tmp_path, "")
    try:
        await svc.seed_cameras(
            [
                cam("good", server.url("good")),
                cam("refused", f"rtsp://127.0.0.1:{dead_port}/stream"),
                cam("wrong-password", server.url("locked", "user", "Wr0ngPass")),
                cam("vp8", server.url("vp8")),
                cam("garbage", f"rtsp://127.0.0.1:{garbage_server}/stream"),
                cam("audio-only", server.url("audio")),
            ]
        )
        expect = {
            "refused": "unreachable",
            "wrong-password": "unauthorized",
            "vp8": "unsupported_codec",
            "garbage": "invalid_data",
            "audio-only": "no_video",
        }

        def kinds() -> dict[str, str]:
            workers = svc.fleet.workers.items()
            return {k.camera_id: w.health.error_kind for k, w in workers if k.camera_id in expect}

        await until(
            lambda: kinds() == expect and states(svc).get("good") == "online", 30, f"error kinds {expect}"
        )
        for c in expect:
            assert states(svc)[c] == "offline"
            reason = svc.fleet.workers[("minghu", c)].health.reason
            assert "Wr0ngPass" not in reason  # the password never shows
        await asyncio.sleep(2)
        assert states(svc)["good"] == "online"
        # fixing the password in the registry brings the camera online, without a restart
        async with svc.db.session() as s:
            from bk_gateway import registry
            from bk_gateway.schemas import CameraPatch

            c = await registry.get(session=s, tenant_id="minghu", camera_id="wrong-password")
            assert c is not None
            await registry.patch(session=s, camera=c, data=CameraPatch(password="right"))
        svc.registry_changed()
        await until(lambda: states(svc).get("wrong-password") == "online", 20, "fixed camera online")
    finally:
        await stop(svc)
        server.stop()
