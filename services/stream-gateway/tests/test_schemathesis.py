"""schemathesis over the stream-gateway's OpenAPI spec, against a real uvicorn on loopback.

The gateway runs as its tests run it (SQLite registry, the in-process bus, a local object store)
with two simulated cameras pulling frames. Every operation gets generated requests, valid and
invalid, with a platform admin's real Ed25519 token for the camera routes. About half the
generated camera ids are the seeded cameras', and about half the live-view requests carry a real
signature (made by the gateway's own signer for that path and expiry), so snapshots, statuses,
changes, play URLs and signed snapshots run on real cameras, not only their 403s and 404s.
The checks, the CI and exploring modes and the server are ``bkcore.testing.fuzz``'s.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from gateway_helpers import SECRET, runtime, settings, token
from schemathesis.core.parameters import ParameterLocation

from bk_gateway.liveview.routes import play_path
from bk_gateway.schemas import ZONES
from bk_gateway.service import GatewayService, create_service
from bk_gateway.spec import CameraKey
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing import fuzz
from bkcore.testing.tokens import new_token_issuer

TENANT = "minghu"
CAMERAS = ["fuzz-prep", "fuzz-cook"]
TOKENS = new_token_issuer()
# A camera the gateway accepts, field by field (a generated one rarely is: zone, source, site).
CAMERA_BODY = {
    "id": ["fuzz-new-1", "fuzz-new-2"],
    "tenant_id": ["", TENANT],
    "site_id": ["s1"],
    "zone": list(ZONES),
    "source_url": ["sim:prep", "sim:cooking"],
    "live_source_url": [""],
    "username": [""],
    "password": [""],
    "profile": [{}],
    "schedule": [[]],
}
# The gateway serves no endless stream: HLS playlists and segments are plain request/response.
SKIP_PATHS: dict[str, str] = {}


def _settings(data_dir: Path):  # type: ignore[no-untyped-def]
    return settings(data_dir, sim_fps=2)


def _runtime(data_dir: Path, s, base_url: str = "http://spec") -> Runtime:  # type: ignore[no-untyped-def]
    store = LocalObjectStore(data_dir / "objects", SECRET, base_url)
    return Runtime(settings=s, bus=InProcessBus(), store=store, tokens=TOKENS)


def _seed(svc: GatewayService):  # type: ignore[no-untyped-def]
    return svc.seed_cameras(
        [
            {"id": cam, "tenant_id": TENANT, "site_id": "s1", "zone": zone, "name": cam, "scenario": zone}
            for cam, zone in zip(CAMERAS, ("prep", "cooking"), strict=True)
        ]
    )


def _serve(data_dir: Path) -> fuzz.Serve:
    @contextlib.asynccontextmanager
    async def serve(base_url: str) -> AsyncIterator[GatewayService]:
        s = _settings(data_dir)
        runtime = _runtime(data_dir, s, base_url)
        svc = create_service(runtime, s)
        await runtime.bus.start()
        await svc.start()
        try:
            await _seed(svc)
            yield svc
        finally:
            await svc.stop()
            await runtime.bus.stop()

    return serve


def _wait_for_frames(svc: GatewayService) -> None:
    deadline = time.monotonic() + 60
    while not all(
        (w := svc.fleet.workers.get((TENANT, cam))) is not None and w.latest is not None for cam in CAMERAS
    ):
        assert time.monotonic() < deadline, "the simulated cameras gave no frame within 60 s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server() -> Iterator[fuzz.LoopbackServer]:
    with (
        tempfile.TemporaryDirectory(prefix="bk-schemathesis-") as tmp,
        fuzz.serving(_serve(Path(tmp)), name="stream-gateway") as srv,
    ):
        _wait_for_frames(srv.service)
        yield srv


@pytest.fixture(scope="module")
def admin() -> dict[str, str]:
    token = TOKENS.issue(Principal(subject="fuzz-admin", tenant_id=TENANT, role=Role.PLATFORM_ADMIN))
    return {"Authorization": f"Bearer {token}"}


def _spec() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bk-openapi-") as tmp:
        s = _settings(Path(tmp))
        return create_service(_runtime(Path(tmp), s), s).app.openapi()


schema = fuzz.schema_of(_spec())
TALLY = fuzz.Tally()


def _sign_live(case, svc: GatewayService) -> None:  # type: ignore[no-untyped-def]
    """About half the live-view requests: a seeded camera and the signature its path really has."""
    params, query = case.path_parameters or {}, case.query if isinstance(case.query, dict) else None
    if query is None or len(str(params.get("camera_id", ""))) % 2:
        return
    meta = case.meta
    if meta and any(meta.is_negative_at(loc) for loc in meta.components):
        return
    name = case.path.rsplit("/", 1)[-1]
    if name == "{segment}":  # one the camera's live playlist lists now (after POST .../live)
        playlist = svc.embedded_live.playlist(CameraKey(TENANT, CAMERAS[0])) or ""
        segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
        name = params["segment"] = segments[-1] if segments else params.get("segment", "")
    params.update(tenant_id=TENANT, camera_id=CAMERAS[0])
    exp = int(time.time()) + 600
    signed = parse_qs(svc.signer.query(play_path(CameraKey(TENANT, CAMERAS[0]), str(name)), exp))
    query.update(exp=signed["exp"][0], sig=signed["sig"][0])


@schema.parametrize()
@fuzz.fuzz_settings()
def test_no_server_errors_and_schema_conformance(case, admin, server) -> None:  # type: ignore[no-untyped-def]
    if fuzz.should_skip(case.path, SKIP_PATHS):
        return
    if case.path.startswith("/v1/live/"):
        _sign_live(case, server.service)
        TALLY.call(case, server.base_url)  # a signed URL is the credential; no token
        return
    fuzz.steer(case, path={"camera_id": CAMERAS}, body=CAMERA_BODY)
    body, params = case.body, case.path_parameters or {}
    steered_put = (
        isinstance(body, dict) and body.get("id") in CAMERA_BODY["id"] and case.method.upper() == "PUT"
    )
    if steered_put and not case.meta.is_negative_at(ParameterLocation.PATH):
        params["camera_id"] = body["id"]  # the steered camera, under its own id
    response = TALLY.call(case, server.base_url, admin)
    if case.method.upper() in ("PUT", "PATCH", "DELETE") and response.status_code < 300:
        # A seeded camera changed or gone: put it back, so the later operations still find it.
        server.call(lambda: _seed(server.service))
        _wait_for_frames(server.service)


def test_the_fuzzing_reached_the_routes_work() -> None:
    """Most routes answered 2xx at least once: the fuzzing got past authentication and ids to the
    work itself. What stays below is a body whose every field must be real and consistent (a new
    tenant, user or site, an upload with real photos, a transition from the right state), whose
    refusals are still fuzzed. ``pytest -rP`` shows each operation's statuses."""
    print(TALLY.summary())
    fuzz.assert_did_work(TALLY, schema, SKIP_PATHS, at_least=0.85)


async def test_a_put_whose_body_names_another_id_is_a_422_like_every_other(tmp_path: Path) -> None:
    """Found by schemathesis: this 422 carried a bare string, not the documented list of errors."""
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://gw") as c:
            body = {"id": "cam-b", "site_id": "s1", "zone": "prep", "source_url": "sim:prep"}
            r = await c.put("/v1/cameras/cam-a", json=body, headers=token(rt))
            assert r.status_code == 422
            assert r.json()["detail"][0]["loc"] == ["body", "id"], r.text
            assert (await c.get("/v1/cameras/cam-a", headers=token(rt))).status_code == 404
    finally:
        await svc.stop()
        await rt.bus.stop()
