"""schemathesis over the case-manager's OpenAPI spec, against a real uvicorn on loopback.

The case-manager runs as its tests run it (SQLite, the in-process bus, a local object store) with
the demo tenant, and cases made the way production makes them: detections on ``detections.v1``.
Callers log in with their real passwords and get the issuer's Ed25519 tokens: the platform admin
for most routes, the site's manager for what only a site does (acknowledge, rectify). About half
the generated ids are real ones: cases, sites, cameras, org units, the tenant, and users made for
the fuzzing alone (so a generated deactivation or password change never locks the callers out).
The checks, the CI and exploring modes and the server are ``bkcore.testing.fuzz``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from cm_demo import DEMO, _user
from cm_testkit import detection, login, make_runtime

from bk_cases.service import CaseService, create_service
from bkcore.clock import FakeClock
from bkcore.testing import fuzz

TENANT = DEMO.TENANT_ID
FUZZ_USERS = ("fuzz-a", "fuzz-b")  # the only accounts a generated request may change
FUZZED = SimpleNamespace(**{**vars(DEMO), "USERS": (*DEMO.USERS, *(_user(u, "staff") for u in FUZZ_USERS))})
SITE_IDS = [s.id for s in DEMO.SITES]
CAMERA_IDS = [c.id for s in DEMO.SITES for c in s.cameras]
ORG_IDS = [o.id for o in DEMO.ORG_UNITS]
VIOLATIONS = ("no_chef_hat", "smoking", "rodent", "no_mask")
# The case-manager serves no endless stream.
SKIP_PATHS: dict[str, str] = {}
# What a site does, not an admin: the site's manager calls these.
SITE_ACTIONS = ("/acknowledge", "/rectifications")


def _serve(data_dir: Path) -> fuzz.Serve:
    @contextlib.asynccontextmanager
    async def serve(base_url: str) -> AsyncIterator[CaseService]:
        clock = FakeClock()
        runtime, settings = make_runtime(data_dir, clock)
        svc = create_service(runtime, settings)
        await svc.start()
        await runtime.bus.start()
        try:
            await svc.seed_demo(FUZZED)
            for i, vtype in enumerate(VIOLATIONS):  # cases as production makes them
                camera = CAMERA_IDS[i % 2]
                site = "lakeside-primary" if camera.startswith("lakeside-primary") else SITE_IDS[1]
                event = detection(clock, vtype, site=site, camera=camera, offset_s=i)
                await runtime.bus.publish("detections.v1", event)
            yield svc
        finally:
            await runtime.bus.stop()
            await svc.stop()

    return serve


@pytest.fixture(scope="module")
def server() -> Iterator[fuzz.LoopbackServer]:
    with (
        tempfile.TemporaryDirectory(prefix="bk-schemathesis-") as tmp,
        fuzz.serving(_serve(Path(tmp)), name="case-manager") as srv,
    ):
        yield srv


def _login(c: httpx.Client, username: str) -> dict[str, str]:
    r = c.post("/auth/login", json={"username": username, "password": f"demo-{username}"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def callers(server: fuzz.LoopbackServer) -> dict[str, dict[str, str]]:
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        return {"admin": _login(c, "admin"), "manager": _login(c, "manager")}


@pytest.fixture(scope="module")
def case_ids(server: fuzz.LoopbackServer, callers: dict[str, dict[str, str]]) -> list[str]:
    """The cases the detections made (the consumer runs on its own task: wait for them)."""
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        for _ in range(300):
            r = c.get("/cases", headers=callers["admin"])
            assert r.status_code == 200, r.text
            rows = r.json()
            items = rows.get("items", rows) if isinstance(rows, dict) else rows
            if len(items) >= len(VIOLATIONS):
                return [row["id"] for row in items]
            asyncio.run(asyncio.sleep(0.1))
    raise AssertionError(f"the {len(VIOLATIONS)} detections made no cases within 30 s")


def _spec() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bk-openapi-") as tmp:
        runtime, settings = make_runtime(Path(tmp), FakeClock())
        return create_service(runtime, settings).app.openapi()


schema = fuzz.schema_of(_spec())
TALLY = fuzz.Tally()


@schema.parametrize()
@fuzz.fuzz_settings(ci_examples=10)  # 60-odd operations: 10 each keeps the module near a minute
def test_no_server_errors_and_schema_conformance(case, callers, case_ids, server) -> None:  # type: ignore[no-untyped-def]
    if fuzz.should_skip(case.path, SKIP_PATHS):
        return
    ids = {
        "case_id": case_ids,
        "site_id": SITE_IDS,
        "camera_id": CAMERA_IDS,
        "unit_id": ORG_IDS,
        "tenant_id": [TENANT],
        "username": list(FUZZ_USERS),
    }
    fuzz.steer(
        case,
        path=ids,
        query={k: ids[k] for k in ("case_id", "site_id", "camera_id")},
        body={"username": ["fuzz-a"], "password": ["demo-fuzz-a"]},  # a login that succeeds
    )
    caller = "manager" if case.path.endswith(SITE_ACTIONS) else "admin"
    if case.path.startswith("/auth/"):
        caller = ""
    TALLY.call(case, server.base_url, callers.get(caller, {}))


def test_the_fuzzing_reached_the_routes_work() -> None:
    """Most routes answered 2xx at least once: the fuzzing got past authentication and ids to the
    work itself. What stays below is a body whose every field must be real and consistent (a new
    tenant, user or site, an upload with real photos, a transition from the right state), whose
    refusals are still fuzzed. ``pytest -rP`` shows each operation's statuses."""
    print(TALLY.summary())
    fuzz.assert_did_work(TALLY, schema, SKIP_PATHS, at_least=0.55)


async def test_an_unknown_robot_is_a_422_like_every_other(client) -> None:  # type: ignore[no-untyped-def]
    """Found by schemathesis: this 422 (and a rectification without photos) carried a bare string,
    not the documented list of ``{type, loc, msg}``; bk-core's app now shapes every route's 422."""
    headers = await login(client, "admin")
    r = await client.put(
        "/notifications/preferences", json={"channels": {}, "robot": "no-such-robot"}, headers=headers
    )
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["type"] and problem["loc"] and "no-such-robot" in problem["msg"]
