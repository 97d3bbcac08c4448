"""No silent stall between gateway and detector: a slow, hung, restarted or vanished detector (a real
gRPC server on loopback) makes the stream tear down, log once, count its frames as lost, reconnect
with backoff and recover; /readyz, GET /v1/ai/status and each camera's ai_state say so meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from gateway_helpers import runtime, settings, token, until
from prometheus_client import REGISTRY

from bk_gateway.detector_client import DetectorStream
from bk_gateway.frame_queue import FrameItem, FrameQueue
from bk_gateway.service import GatewayService, create_service
from bkcore.auth import Role
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pbg

CLIENT_LOG = "bk_gateway.detector_client"
CAMS = [
    {
        "id": "s1-prep",
        "tenant_id": "minghu",
        "site_id": "s1",
        "org_path": "/minghu/lakeside",
        "zone": "prep",
        "scenario": "pattern-a",
        "sample_fps": 4,
    },
]


class MoodyDetector(pbg.DetectorServicer):
    """A detector whose mood the test sets: normal, ``delay_s`` slow, hung (reads batches, answers
    none), or deaf (stops reading its stream at all, so gRPC's flow control pushes back)."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.per_frame_s = 0.0  # an overloaded detector: one frame at a time, this long each
        self.hung = False
        self.hearing = asyncio.Event()  # cleared = deaf
        self.hearing.set()
        self.batches = 0
        self.answered = 0
        self.frame_ids: list[str] = []
        self.refuse: dict[str, str] = {}  # camera id -> why its profile is refused

    async def Detect(
        self, request_iterator: AsyncIterator[pb.FrameBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.DetectionBatch]:
        async for batch in request_iterator:
            self.batches += 1
            self.frame_ids.extend(f.frame_id for f in batch.frames)
            await self.hearing.wait()
            if self.hung:
                continue
            if self.delay_s or self.per_frame_s:
                await asyncio.sleep(self.delay_s + self.per_frame_s * len(batch.frames))
            self.answered += 1
            yield pb.DetectionBatch(
                batch_id=batch.batch_id,
                model_version="moody-1",
                results=[pb.FrameResult(frame_id=f.frame_id, camera_id=f.camera_id) for f in batch.frames],
                refused_profiles=[
                    pb.ProfileRefusal(
                        tenant_id=p.tenant_id,
                        camera_id=p.camera_id,
                        rules_version=p.rules_version,
                        reason=self.refuse[p.camera_id],
                    )
                    for p in batch.profiles
                    if p.camera_id in self.refuse
                ],
            )


async def serve(servicer: MoodyDetector, port: int = 0) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    pbg.add_DetectorServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound == 0:
        raise AssertionError(f"cannot bind a detector on 127.0.0.1:{port}")
    await server.start()
    return server, bound


def lost(reason: str, tenant: str = "minghu") -> float:
    return (
        REGISTRY.get_sample_value("bk_gateway_frames_lost_total", {"tenant_id": tenant, "reason": reason})
        or 0.0
    )


def downs(caplog: pytest.LogCaptureFixture, endpoint: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == CLIENT_LOG and r.levelno >= logging.WARNING and endpoint in r.getMessage()
    ]


def recoveries(caplog: pytest.LogCaptureFixture, endpoint: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == CLIENT_LOG and "recovered" in r.getMessage() and endpoint in r.getMessage()
    ]


class Feeder:
    """Cameras pushing frames into the queue, as pull workers do: ``cameras`` frames every 0.05 s."""

    def __init__(self, queue: FrameQueue, jpeg: bytes = b"\xff\xd8fake", cameras: int = 1) -> None:
        self.queue, self.jpeg, self.cameras, self.n = queue, jpeg, cameras, 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.n += 1
            for c in range(1, self.cameras + 1):
                cam = f"cam-{c}"
                self.queue.push(
                    FrameItem(f"{cam}-{self.n}", "minghu", "s1", cam, datetime.now(UTC), self.jpeg, 1)
                )
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def run_stream(
    endpoint: str, tmp_path: Path, **kw: object
) -> tuple[DetectorStream, FrameQueue, asyncio.Task]:
    base: dict[str, object] = dict(
        detector_endpoints=endpoint,
        batch_size=4,
        batch_max_wait_s=0.02,
        detector_timeout_s=1.0,
        backoff_initial_s=0.1,
        backoff_max_s=0.5,
        open_timeout_s=1.0,
    )
    s = settings(tmp_path, **{**base, **kw})
    queue = FrameQueue(64)
    stream = DetectorStream(endpoint, queue, lambda _cid: None, s)
    return stream, queue, asyncio.create_task(stream.run())


async def stop_task(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# --- the stream itself ----------------------------------------------------------------------------------


async def test_hung_detector_is_torn_down_logged_once_and_recovers(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, CLIENT_LOG)
    det = MoodyDetector()
    server, port = await serve(det)
    ep = f"127.0.0.1:{port}"
    det.hung = True
    stream, queue, task = await run_stream(ep, tmp_path)
    feeder = Feeder(queue)
    before = lost("timeout")
    try:
        await until(lambda: stream.failed_attempts >= 3, 20, "three sessions torn down by the timeout")
        assert "no answer for 1 s" in stream.cause
        assert lost("timeout") > before  # the frames it took with it are counted, not forgotten
        assert stream.owed  # and still owed: they were never answered
        assert len(downs(caplog, ep)) == 1, downs(caplog, ep)  # once per outage, not per retry

        det.hung = False
        answered = stream.batches_answered
        await until(lambda: stream.batches_answered > answered + 3, 20, "answers after the detector recovers")
        assert stream.cause == "" and stream.down_since is None
        assert stream.model_version == "moody-1" and stream.last_answer_at is not None
        assert len(recoveries(caplog, ep)) == 1
    finally:
        await feeder.stop()
        await stop_task(task)
        await server.stop(None)


async def test_overloaded_detector_gets_what_it_can_answer_in_time(tmp_path: Path) -> None:
    """10 frames/s, where a full batch of 16 would take 1.6 s, past the 1 s timeout: a fixed
    in-flight budget would be torn down at every batch and never answered (a livelock); the frame
    window shrinks to what it answers in time instead, and the stream stays up."""
    det = MoodyDetector()
    det.per_frame_s = 0.1
    server, port = await serve(det)
    stream, queue, task = await run_stream(f"127.0.0.1:{port}", tmp_path, batch_size=16)
    feeder = Feeder(queue, cameras=4)  # 80 frames/s: eight times what the detector can do
    try:
        await until(lambda: stream.batches_answered >= 20, 30, "twenty answers")
        assert stream.failed_attempts == 0 and stream.down_since is None
        assert stream.window.frames < 16
    finally:
        await feeder.stop()
        await stop_task(task)
        await server.stop(None)


async def test_stale_frames_are_dropped_and_counted_not_analysed(tmp_path: Path) -> None:
    det = MoodyDetector()
    server, port = await serve(det)
    stream, queue, task = await run_stream(f"127.0.0.1:{port}", tmp_path, frame_max_age_s=5.0)
    dropped = "bk_gateway_frames_dropped_total"
    before = REGISTRY.get_sample_value(dropped, {"tenant_id": "minghu", "reason": "stale"}) or 0.0
    old = datetime.now(UTC) - timedelta(seconds=30)
    try:
        for n in range(3):
            queue.push(FrameItem(f"old-{n}", "minghu", "s1", "cam-1", old, b"\xff\xd8", 1))
        queue.push(FrameItem("fresh", "minghu", "s1", "cam-1", datetime.now(UTC), b"\xff\xd8", 1))
        await until(lambda: stream.batches_answered >= 1, 10, "the fresh frame answered")
        assert det.frame_ids == ["fresh"]
        assert REGISTRY.get_sample_value(dropped, {"tenant_id": "minghu", "reason": "stale"}) == before + 3
    finally:
        await stop_task(task)
        await server.stop(None)


async def test_deaf_detector_cannot_block_the_writer(tmp_path: Path) -> None:
    """A detector that stops reading fills gRPC's window: the write itself must give up too."""
    det = MoodyDetector()
    server, port = await serve(det)
    ep = f"127.0.0.1:{port}"
    det.hearing.clear()
    stream, queue, task = await run_stream(ep, tmp_path)
    feeder = Feeder(queue, jpeg=b"\xff\xd8" + bytes(400_000))  # four of these are well past the window
    try:
        await until(lambda: stream.failed_attempts >= 2, 20, "two sessions torn down")
        det.hearing.set()
        answered = stream.batches_answered
        await until(lambda: stream.batches_answered > answered + 2, 20, "answers once it reads again")
    finally:
        await feeder.stop()
        await stop_task(task)
        await server.stop(None)


async def test_detector_restarted_on_the_same_port(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, CLIENT_LOG)
    det = MoodyDetector()
    server, port = await serve(det)
    ep = f"127.0.0.1:{port}"
    stream, queue, task = await run_stream(ep, tmp_path)
    feeder = Feeder(queue)
    try:
        await until(lambda: stream.batches_answered >= 3, 20, "answers from the first detector")
        await server.stop(None)
        await until(lambda: stream.down_since is not None, 20, "the stream seen down")
        await asyncio.sleep(1.5)  # a few failed reconnects, counted, not logged
        assert stream.failed_attempts >= 2
        assert len(downs(caplog, ep)) == 1

        det2 = MoodyDetector()
        server, _ = await serve(det2, port)
        await until(lambda: det2.answered >= 3, 20, "the restarted detector answers")
        await until(lambda: stream.down_since is None, 5, "the stream recovered")
        assert len(recoveries(caplog, ep)) == 1
    finally:
        await feeder.stop()
        await stop_task(task)
        await server.stop(None)


# --- the service: /readyz, GET /v1/ai/status, camera ai_state ---------------------------------------------


async def start_gateway(tmp_path: Path, endpoint: str) -> GatewayService:
    s = settings(
        tmp_path,
        detector_endpoints=endpoint,
        batch_size=4,
        batch_max_wait_s=0.02,
        detector_timeout_s=1.0,
        detector_stall_s=3.0,
        backoff_initial_s=0.1,
        backoff_max_s=0.5,
        open_timeout_s=1.0,
    )
    rt = runtime(s)
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    await svc.seed_cameras(CAMS)
    return svc


async def stop_gateway(svc: GatewayService) -> None:
    await svc.stop()
    await svc.runtime.bus.stop()


async def views(svc: GatewayService) -> tuple[httpx.Response, dict, dict]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://gw") as http:
        ready = await http.get("/readyz")
        headers = token(svc.runtime, tenant="minghu")
        ai = (await http.get("/v1/ai/status", headers=headers)).json()
        cam = (await http.get("/v1/cameras/s1-prep/status", headers=headers)).json()
    return ready, ai, cam


async def wait_views(
    svc: GatewayService, want, within_s: float, what: str
) -> tuple[httpx.Response, dict, dict]:
    got: list = []

    async def check() -> None:
        got[:] = await views(svc)

    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        await check()
        if want(*got):
            return got[0], got[1], got[2]
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {within_s}s waiting for {what}; last: {got[1:]}")


async def test_slow_detector_makes_the_gateway_say_so_then_recovers(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    det = MoodyDetector()
    det.delay_s = 3.0  # answers later than detector_timeout_s=1
    server, port = await serve(det)
    ep = f"127.0.0.1:{port}"
    before = lost("timeout")
    svc = await start_gateway(tmp_path, ep)
    try:
        ready, ai, cam = await wait_views(svc, lambda r, a, c: a["state"] == "no_answers", 30, "no_answers")
        assert ready.status_code == 503
        body = ready.json()
        assert body["checks"]["detectors"] is False and body["checks"]["database"] is True
        assert "no detector has answered" in body["reasons"]["detectors"]
        assert "no answer for 1 s" in body["reasons"]["detectors"]  # the stream's own cause
        assert (
            ai["running"] is False
            and ai["since"] is not None
            and ai["reason"] == body["reasons"]["detectors"]
        )
        assert [d["endpoint"] for d in ai["detectors"]] == [ep]
        assert ai["detectors"][0]["last_answer_at"] is None and ai["detectors"][0]["model_version"] == ""
        assert cam["ai_state"] == "no_answers" and cam["state"] == "online" and cam["ai_reason"]
        stream = svc.detectors.streams[0]
        assert stream.failed_attempts >= 2 and lost("timeout") > before
        assert len(downs(caplog, ep)) == 1  # logged once, however many retries
        stalls = [r for r in caplog.records if r.getMessage().startswith("AI not running (no_answers)")]
        assert len(stalls) == 1

        det.delay_s = 0.0  # the detector is normal again
        ready, ai, cam = await wait_views(
            svc, lambda r, a, c: r.status_code == 200 and c["ai_state"] == "running", 30, "recovery"
        )
        assert ready.json() == {"ready": True, "checks": {"database": True, "bus": True, "detectors": True}}
        assert ai["state"] == "running" and ai["running"] is True and "answering" in ai["reason"]
        assert ai["detectors"][0]["connected"] is True and ai["detectors"][0]["model_version"] == "moody-1"
        assert ai["detectors"][0]["last_answer_at"] is not None
        assert len(recoveries(caplog, ep)) == 1
        assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("AI running again")]
    finally:
        await stop_gateway(svc)
        await server.stop(None)


async def test_vanished_detector_is_no_detectors_with_the_cause(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, CLIENT_LOG)
    det = MoodyDetector()
    server, port = await serve(det)
    ep = f"127.0.0.1:{port}"
    svc = await start_gateway(tmp_path, ep)
    try:
        await wait_views(svc, lambda r, a, c: c["ai_state"] == "running", 30, "running at first")
        await server.stop(None)  # gone, and stays gone
        ready, ai, cam = await wait_views(
            svc, lambda r, a, c: a["state"] == "no_detectors", 30, "no_detectors"
        )
        assert ready.status_code == 503 and "no detector reachable" in ready.json()["reasons"]["detectors"]
        assert ep in ai["reason"] and ai["detectors"][0]["connected"] is False
        assert cam["ai_state"] == "no_answers" and "no detector reachable" in cam["ai_reason"]
        # A supervisor is told the same, without the platform's internal addresses.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=svc.app), base_url="http://gw"
        ) as http:
            supervisor = token(svc.runtime, Role.SUPERVISOR, org_path="/minghu")
            seen = (await http.get("/v1/ai/status", headers=supervisor)).json()
        assert seen["state"] == "no_detectors" and "no detector reachable" in seen["reason"]
        assert [d["endpoint"] for d in seen["detectors"]] == ["detector 1"]
        assert "127.0.0.1" not in str(seen), seen
        assert len(downs(caplog, ep)) == 1
        assert svc.detectors.streams[0].failed_attempts >= 2
    finally:
        await stop_gateway(svc)


async def test_a_refused_profile_shows_on_the_camera_until_a_newer_one_is_accepted(tmp_path: Path) -> None:
    why = "rules[0].violation_type: unknown rule 'no_hats'"
    det = MoodyDetector()
    det.refuse["s1-prep"] = why
    server, port = await serve(det)
    svc = await start_gateway(tmp_path, f"127.0.0.1:{port}")
    try:
        _, _, cam = await wait_views(svc, lambda r, a, c: c["ai_state"] == "profile_refused", 30, "refused")
        assert why in cam["ai_reason"] and "profile_refused" in cam["alarms"]

        det.refuse.clear()  # the detector learns the rule; a newer profile version reaches it
        await svc.seed_cameras(
            [dict(CAMS[0], profile={"rules": [{"violation_type": "no_chef_hat", "enabled": True}]})]
        )
        _, _, cam = await wait_views(svc, lambda r, a, c: c["ai_state"] == "running", 30, "accepted")
        assert "profile_refused" not in cam["alarms"]
    finally:
        await stop_gateway(svc)
        await server.stop(None)
