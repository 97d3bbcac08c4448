"""A profile a detector refused is a camera alarm: raised once on camera.status.v1 and in the camera's
status, kept across a restarted stream, cleared when a version as new is accepted; stale news (a
refusal older than an accepted version, another tenant's camera) changes nothing."""

from __future__ import annotations

from pathlib import Path

from gateway_helpers import StatusLog, runtime, settings, until

from bk_gateway import registry
from bk_gateway.service import create_service
from bk_gateway.state import Alarm
from bkproto.events.v1 import camera_status_pb2 as ev

WHY = "rules[2].violation_type: unknown rule 'no_hats' (known: no_chef_hat, ...)"


def refusal_events(log: StatusLog) -> list[ev.CameraStatusChanged]:
    return [e for e in log.events if e.camera_id == "cam-r" and e.alarm == ev.CAMERA_ALARM_PROFILE_REFUSED]


async def test_a_refused_profile_raises_and_clears_a_camera_alarm(tmp_path: Path) -> None:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    log = StatusLog(rt.bus)  # type: ignore[arg-type]
    await rt.bus.start()
    await svc.start()
    fleet = svc.fleet
    try:
        await svc.seed_cameras([{"id": "cam-r", "tenant_id": "minghu", "site_id": "s1", "zone": "prep",
                                 "scenario": "pattern-r", "sample_fps": 1}])  # fmt: skip
        fleet.profile_accepted("minghu", "cam-r", 3)
        fleet.profile_refused("minghu", "cam-r", 2, "stale: older than the accepted version 3")
        fleet.profile_refused("other-tenant", "cam-r", 4, WHY)  # not this tenant's camera
        assert fleet.refused == {}

        fleet.profile_refused("minghu", "cam-r", 4, WHY)
        fleet.profile_refused("minghu", "cam-r", 4, WHY)  # a reconnected stream sends it again: once
        await until(lambda: len(refusal_events(log)) == 1, 5, "the profile_refused alarm on the bus")
        [raised] = refusal_events(log)
        assert raised.alarm_active and raised.reason == f"profile_refused raised: version 4: {WHY}"
        assert raised.meta.tenant_id == "minghu" and raised.site_id == "s1"
        assert fleet.refused == {("minghu", "cam-r"): WHY}
        async with svc.db.session() as s:
            cam = await registry.get(session=s, tenant_id="minghu", camera_id="cam-r")
        assert cam is not None and svc.status_of(cam).alarms == ["profile_refused"]

        # The stream restarts (a new source URL): the detector still judges by the old profile.
        before = fleet.workers[("minghu", "cam-r")]
        async with svc.db.session() as s:
            spec = await registry.get(session=s, tenant_id="minghu", camera_id="cam-r")
            assert spec is not None
            spec.source_url = "sim:pattern-s"
        await svc.reconcile()
        assert fleet.workers[("minghu", "cam-r")] is not before
        assert Alarm.PROFILE_REFUSED in fleet.alarms[("minghu", "cam-r")].active

        fleet.profile_accepted("minghu", "cam-r", 3)  # older than the refused one: not over
        assert fleet.refused == {("minghu", "cam-r"): WHY}
        fleet.profile_accepted("minghu", "cam-r", 5)
        await until(lambda: len(refusal_events(log)) == 2, 5, "the profile_refused alarm cleared")
        cleared = refusal_events(log)[1]
        assert not cleared.alarm_active and cleared.reason == "profile_refused cleared: version 5 accepted"
        assert fleet.refused == {} and svc.status_of(cam).alarms == []
    finally:
        await svc.stop()
        await rt.bus.stop()
