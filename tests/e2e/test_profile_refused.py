"""A camera profile the detector refuses, across the gateway and a real detector on loopback gRPC.

A profile stored before the registry checked profiles (an unknown rule) reaches the detector, which
refuses it: the camera is judged by no rule rather than by the default (a hat-less cook raises
nothing), and the gateway raises the profile_refused camera alarm on camera.status.v1 and in the
camera's status. A good profile set through the API is accepted: the alarm clears and the rule runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bk_detector.service import create_service as create_detector
from bk_detector.settings import DetectorSettings
from bk_detector.testing import FakeDetection, ScriptedModel
from bk_gateway import registry
from bk_gateway.schemas import CameraIn
from bk_gateway.service import create_service as create_gateway
from bk_gateway.settings import GatewaySettings
from bkcore.auth import Principal, Role
from bkcore.bus.base import Delivery
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.events.v1 import camera_status_pb2 as ev
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase

pytestmark = pytest.mark.e2e
SECRET = "test-secret-0123456789abcdef-0123456789"
HATLESS = FakeDetection("person", 0.9, (0.1, 0.1, 0.3, 0.9),
                        {"chef_hat": 0.05, "mask": 0.9, "uniform": 0.9, "gloves": 0.9})  # fmt: skip
CAMERA = "cam-e"


async def until(cond: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within_s} s")
        await asyncio.sleep(0.1)


async def test_a_refused_profile_is_an_alarm_until_a_good_one_is_accepted(tmp_path: Path) -> None:
    bus = InProcessBus()
    store = LocalObjectStore(tmp_path / "objects", SECRET, "http://test")
    tokens = new_token_issuer()
    det_settings = DetectorSettings(data_dir=tmp_path / "det", grpc_port=0, max_wait_ms=5, vote_window=3,
                                    vote_ratio=0.6, vote_min_observations=2, update_interval_s=0)  # fmt: skip
    detector = create_detector(Runtime(settings=det_settings, bus=bus, store=store, tokens=tokens),
                               det_settings, model=ScriptedModel(lambda _img: [HATLESS]))  # fmt: skip
    status: list[ev.CameraStatusChanged] = []
    started: list[ViolationDetected] = []

    async def on_status(d: Delivery) -> None:
        status.append(d.event)  # type: ignore[arg-type]

    async def on_detection(d: Delivery) -> None:
        if d.event.phase == ViolationPhase.VIOLATION_PHASE_STARTED:  # type: ignore[attr-defined]
            started.append(d.event)  # type: ignore[arg-type]

    bus.subscribe("camera.status.v1", "test", on_status)
    bus.subscribe("detections.v1", "test", on_detection)
    await bus.start()
    await detector.start()
    gw_settings = GatewaySettings(data_dir=tmp_path / "gw", gateway_id="gw-0",
                                  detector_endpoints=detector.grpc_address, sim_fps=4, sim_width=320,
                                  sim_height=180, detector_frame_width=320, detector_frame_height=180,
                                  reconcile_interval_s=1.0)  # fmt: skip
    gateway = create_gateway(Runtime(settings=gw_settings, bus=bus, store=store, tokens=tokens))
    await gateway.start()

    def refusals() -> list[ev.CameraStatusChanged]:
        return [e for e in status if e.camera_id == CAMERA and e.alarm == ev.CAMERA_ALARM_PROFILE_REFUSED]

    try:
        # A row from before the registry checked profiles: its validators are bypassed on purpose.
        legacy = CameraIn.model_construct(
            id=CAMERA, tenant_id="minghu", site_id="s1", zone="prep", source_url="sim:pattern-e",
            sample_fps=4.0, profile={"rules": [{"violation_type": "no_chef_hat", "enabled": True},
                                               {"violation_type": "no_hats", "enabled": True}]},
        )  # fmt: skip
        async with gateway.db.session() as s:
            await registry.upsert(session=s, data=legacy, tenant_id="minghu")
        await gateway.reconcile()

        await until(lambda: any(e.alarm_active for e in refusals()), 30, "profile_refused alarm")
        [raised] = refusals()
        assert "rules[1].violation_type: unknown rule 'no_hats'" in raised.reason
        why = gateway.fleet.refused[("minghu", CAMERA)]
        assert why.startswith("rules[1].violation_type: unknown rule 'no_hats'")
        async with gateway.db.session() as s:
            cam = await registry.get(session=s, tenant_id="minghu", camera_id=CAMERA)
        assert cam is not None
        out = gateway.status_of(cam)
        assert out.alarms == ["profile_refused"] and out.ai_state == "profile_refused"
        # Judged by no rule, not by the default: frames keep getting answers, a hat-less cook
        # raises nothing.
        answered = gateway.detectors.streams[0].answered
        key = ("minghu", CAMERA)  # camera ids are unique per tenant only
        await until(lambda: key in answered, 10, "answers for the camera")
        first_answer = answered[key]  # type: ignore[index]
        await until(lambda: answered[key] > first_answer + 2, 20, "more answers")  # type: ignore[index]
        assert started == []

        # The operator fixes the profile through the API: accepted, the alarm clears, the rule runs.
        operator = Principal(subject="u", tenant_id="minghu", role=Role.PLATFORM_ADMIN)
        admin = {"Authorization": f"Bearer {tokens.issue(operator)}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway.app), base_url="http://gw"
        ) as c:
            good = {"rules": [{"violation_type": "no_chef_hat", "enabled": True}]}
            r = await c.patch(f"/v1/cameras/{CAMERA}", json={"profile": good}, headers=admin)
            assert r.status_code == 200, r.text
        await until(lambda: any(not e.alarm_active for e in refusals()), 30, "profile_refused cleared")
        assert [e.alarm_active for e in refusals()] == [True, False]
        assert gateway.fleet.refused == {}
        await until(lambda: bool(started), 30, "a no_chef_hat violation under the accepted profile")
        assert {e.violation_type for e in started} == {"no_chef_hat"}
    finally:
        await gateway.stop()
        await detector.stop()
        await bus.stop()
