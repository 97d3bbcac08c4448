"""schemathesis over the public API's OpenAPI spec, against a real uvicorn on loopback.

Every operation gets generated requests (valid and invalid), sent with the token of the caller it
is meant for: a parent bound to site ``s1`` for the parents' routes, a supervisor for ``/admin``
and ``/console``, nobody for the public ones. Half the generated site and camera ids are swapped
for the bound site's, so the bound paths run too and not only their 404s. The checks, the CI and
exploring modes and the server are ``bkcore.testing.fuzz``'s.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from public_helpers import NOON, TENANT, FakeUpstream, staff_token

from bk_public.service import PublicService
from bk_public.settings import PublicSettings
from bkcore.bus.base import new_meta
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.settings import CoreSettings
from bkcore.testing import fuzz
from bkcore.testing.pictures import jpeg
from bkcore.testing.tokens import new_token_issuer
from bkproto.events.v1.cases_pb2 import CaseChanged

CASE_ID = "fuzz-k1"
PHOTO = jpeg((64, 48))
# Real codes and bindings, made by the callers fixture before the fuzzing starts.
REAL: dict[str, list[str]] = {}
SKIP_PATHS = {"/console/alarms/stream": "an endless server-sent event stream: no response to check"}


def _serve(data_dir: Path) -> fuzz.Serve:
    """The public-api with embedded adapters and a fake of the other services."""

    @contextlib.asynccontextmanager
    async def serve(base_url: str) -> AsyncIterator[PublicService]:
        clock = FakeClock(NOON)  # noon in Shanghai: sites are open, live view is allowed
        bus = InProcessBus(None)
        store = LocalObjectStore(
            data_dir / "objects", "s" * 32, base_url, clock=lambda: clock.now().timestamp()
        )
        runtime = Runtime(
            settings=CoreSettings(data_dir=data_dir),
            bus=bus,
            store=store,
            tokens=new_token_issuer(),
            clock=clock,
        )
        settings_ = PublicSettings(
            data_dir=data_dir, rate_user_per_min=10**6, rate_ip_per_min=10**6, rate_write_per_min=10**6
        )
        svc = PublicService(runtime, settings_, upstream=FakeUpstream())
        await bus.start()
        await svc.start()
        try:
            await svc.seed_demo(tenant_id=TENANT, site_ids=["s1", "s2"])
            await bus.publish("cases.v1", _closed_case(clock.now()))  # a case for the console to show
            yield svc
        finally:
            await svc.stop()
            await bus.stop()

    return serve


@pytest.fixture(scope="module")
def server() -> Iterator[fuzz.LoopbackServer]:
    with (
        tempfile.TemporaryDirectory(prefix="bk-schemathesis-") as tmp,
        fuzz.serving(_serve(Path(tmp)), name="public-api") as srv,
    ):
        yield srv


def _closed_case(when: datetime) -> CaseChanged:
    return CaseChanged(
        meta=new_meta(tenant_id=TENANT, key=CASE_ID, producer="fuzz", occurred_at=when),
        case_id=CASE_ID,
        site_id="s1",
        org_path="/minghu/lakeside",
        case_type="no_chef_hat",
        risk_class=3,
        status="closed",
        action="close",
        occurrences=1,
    )


@pytest.fixture(scope="module")
def callers(server: fuzz.LoopbackServer) -> dict[str, dict[str, str]]:
    """Headers per kind of caller: a parent bound to s1, a supervisor over the whole tenant."""
    staff = staff_token(server.service)
    with httpx.Client(base_url=server.base_url) as c:
        r = c.post("/auth/wx-login", json={"code": "fuzz-parent"})
        assert r.status_code == 200, r.text
        parent = {"Authorization": f"Bearer {r.json()['session_token']}"}

        def code(site: str) -> str:
            r = c.post(f"/admin/sites/{site}/invite-codes", json={}, headers=staff)
            assert r.status_code == 201, r.text
            return str(r.json()["code"])

        r = c.post("/bindings", json={"invite_code": code("s1")}, headers=parent)
        assert r.status_code == 201, r.text
        REAL["invite_code"] = [code("s1")]  # binds again: the same binding, answered 201
        REAL["code"] = [code("s2"), code("s2")]  # for the fuzzer to revoke (never the parent's own)
        r = c.post("/bindings", json={"invite_code": code("s2")}, headers=parent)
        assert r.status_code == 201, r.text
        REAL["binding_id"] = [r.json()["id"]]  # for the fuzzer to unbind (s1 stays bound)
        for _ in range(100):  # the console's read model takes the case from the bus
            if c.get(f"/console/cases/{CASE_ID}", headers=staff).status_code == 200:
                break
            time.sleep(0.1)
    return {"parent": parent, "staff": staff, "public": {}}


def _spec() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bk-openapi-") as tmp:
        core = CoreSettings(data_dir=Path(tmp))
        store = LocalObjectStore(Path(tmp) / "objects", "s" * 32, "http://spec")
        runtime = Runtime(settings=core, bus=InProcessBus(None), store=store, tokens=new_token_issuer())
        svc = PublicService(runtime, PublicSettings(data_dir=Path(tmp)), upstream=FakeUpstream())
        return svc.app.openapi()


schema = fuzz.schema_of(_spec())


def _caller(path: str) -> str:
    if path.startswith(("/admin", "/console")):
        return "staff"
    if path.startswith(("/public", "/auth", "/healthz", "/readyz")):
        return "public"
    return "parent"


TALLY = fuzz.Tally()


@schema.parametrize()
@fuzz.fuzz_settings()
def test_no_server_errors_and_schema_conformance(case, callers, server) -> None:  # type: ignore[no-untyped-def]
    if fuzz.should_skip(case.path, SKIP_PATHS):
        return
    fuzz.steer(
        case,
        path={
            "site_id": ["s1"],
            "case_id": [CASE_ID],
            "code": REAL["code"],
            "binding_id": REAL["binding_id"],
        },
        body={
            "invite_code": REAL["invite_code"],
            "category": ["hygiene", "other"],
            "photos": [[PHOTO]],
            "tenant_id": [TENANT],
            "code": ["fuzz-login"],
        },
    )
    params = case.path_parameters or {}
    if params.get("site_id") == "s1" and "camera_id" in params:
        params["camera_id"] = "s1-prep"
    TALLY.call(case, server.base_url, callers[_caller(case.path)])


def test_the_fuzzing_reached_the_routes_work() -> None:
    """Most routes answered 2xx at least once: the fuzzing got past authentication and ids to the
    work itself. What stays below is a body whose every field must be real and consistent (a new
    tenant, user or site, an upload with real photos, a transition from the right state), whose
    refusals are still fuzzed. ``pytest -rP`` shows each operation's statuses."""
    print(TALLY.summary())
    fuzz.assert_did_work(TALLY, schema, SKIP_PATHS, at_least=0.85)
