"""The walking skeleton end to end: simulated cameras → sampled frames → a (fake) detector, status
events on the bus, the registry API, snapshots, and registry changes applied without restart."""

from __future__ import annotations

from pathlib import Path

import httpx
from gateway_helpers import FakeDetector, StatusLog, runtime, settings, start_detector, token, until

from bk_gateway.service import create_service
from bkcore.auth import Role
from bkproto.events.v1 import camera_status_pb2 as ev

CAMS = [
    {
        "id": "site1-prep",
        "tenant_id": "minghu",
        "site_id": "site1",
        "org_path": "/minghu/lakeside",
        "zone": "prep",
        "name": "切配区",
        "scenario": "pattern-a",
        "sample_fps": 2,
    },
    {
        "id": "site1-cooking",
        "tenant_id": "minghu",
        "site_id": "site1",
        "org_path": "/minghu/lakeside",
        "zone": "cooking",
        "name": "烹饪区",
        "scenario": "pattern-b",
        "sample_fps": 2,
        "profile": {
            "masks": [{"xy": [0, 0, 0.1, 0, 0.1, 0.1]}],
            "rules": [{"violation_type": "no_chef_hat", "enabled": True}],
        },
    },
]


async def test_sim_cameras_flow_to_detector_and_api(tmp_path: Path) -> None:
    detector = FakeDetector()
    server, endpoint = await start_detector(detector)
    rt = runtime(settings(tmp_path, detector_endpoints=endpoint))
    svc = create_service(rt)
    log = StatusLog(rt.bus)  # type: ignore[arg-type]
    await rt.bus.start()
    await svc.start()
    try:
        await svc.seed_cameras(CAMS)
        await svc.seed_cameras(CAMS)  # idempotent
        await until(
            lambda: {f.camera_id for f in detector.frames} == {c["id"] for c in CAMS},
            20,
            "frames from both cameras at the detector",
        )
        assert {p.camera_id for p in detector.profiles} == {c["id"] for c in CAMS}
        cooking = next(p for p in detector.profiles if p.camera_id == "site1-cooking")
        assert cooking.rules[0].violation_type == "no_chef_hat" and cooking.zone == "cooking"
        await until(lambda: ev.CAMERA_STATE_ONLINE in log.states("site1-prep"), 10, "online event")

        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            admin = token(rt)
            r = await http.get("/v1/cameras", headers=admin)
            assert r.status_code == 200 and len(r.json()) == 2
            r = await http.get("/v1/cameras/status", headers=admin)
            assert {(s["state"], s["decoder"]) for s in r.json()} == {("online", "sim")}
            r = await http.get("/v1/cameras/site1-prep/snapshot.jpg", headers=admin)
            assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
            # staff of another site see nothing; unauthenticated callers are refused
            other = token(rt, Role.STAFF, site_ids=frozenset({"site2"}))
            assert (await http.get("/v1/cameras", headers=other)).json() == []
            assert (await http.get("/v1/cameras/site1-prep", headers=other)).status_code == 404
            assert (await http.get("/v1/cameras")).status_code == 401
            # credentials typed into a URL are split off, never returned
            body = dict(
                CAMS[0],
                id="site1-storage",
                zone="storage",
                source_url="rtsp://admin:hunter2@127.0.0.1:9/stream",
            )
            body.pop("scenario")
            r = await http.put("/v1/cameras/site1-storage", json=body, headers=admin)
            assert r.status_code == 200, r.text
            assert "hunter2" not in r.text and r.json()["has_credentials"] is True
            # disable without restart: the worker goes away
            r = await http.patch("/v1/cameras/site1-cooking", json={"enabled": False}, headers=admin)
            assert r.status_code == 200
            await until(lambda: ("minghu", "site1-cooking") not in svc.fleet.workers, 5, "worker stopped")
            assert ("minghu", "site1-storage") in svc.fleet.workers
    finally:
        await svc.stop()
        await rt.bus.stop()
        await server.stop(None)
    assert ev.CAMERA_STATE_DISABLED in log.states("site1-cooking")
