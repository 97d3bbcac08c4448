"""schemathesis over the ledger's OpenAPI spec, against a real uvicorn on loopback.

The ledger runs as its tests run it (SQLite, the in-process bus, a local object store); its sites
come as the case-manager publishes them (``directory.v1``), and so does the platform admin who
calls. Every operation gets generated requests, valid and invalid, with a real Ed25519 token:
the admin's for the staff routes, the public-api's service token (scopes and all) for the public
summary. About half the generated site ids are real sites, and the ids in later paths and bodies
(records, staff, suppliers, purchases, courses, sensors, dishes) are partly those the fuzzing
itself created, so reads, exams, disposals and traces run on real rows, not only their 404s.
The checks, the CI and exploring modes and the server are ``bkcore.testing.fuzz``'s.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bk_ledger.service import LedgerService, create_service
from bk_ledger.settings import LedgerSettings
from bkcore.auth import PUBLIC_API, Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.service_tokens import SERVICE_IDENTITIES, TokenRequest, grant
from bkcore.testing import fuzz
from bkcore.testing.directory import DirSite, eventually, publish, site_event, user_event
from bkcore.testing.tokens import new_token_issuer

TENANT = "minghu"
ADMIN = "fuzz-admin"
SITES = (
    DirSite("lakeside-primary", "湖滨第一小学食堂", "school_canteen", "/minghu/lakeside/north"),
    DirSite("hillview-noodle", "山景老字号面馆", "restaurant", "/minghu/hillview", "10:00-22:00"),
)
SITE_IDS = [s.site_id for s in SITES]
TOKENS = new_token_issuer()
# The ledger serves no endless stream.
SKIP_PATHS: dict[str, str] = {}
# Ids a path or body names, and the collection whose POST created them.
CREATED_BY = {
    "staff_id": "/v1/staff",
    "supplier_id": "/v1/suppliers",
    "purchase_id": "/v1/purchases",
    "course_id": "/v1/training/courses",
    "sensor_id": "/v1/iot/sensors",
    "dish_id": "/v1/dishes-served",
    "test_id": "/v1/pesticide-tests",
}


def _settings(data_dir: Path) -> LedgerSettings:
    return LedgerSettings(data_dir=data_dir, sweep_interval_s=3600, outbox_poll_s=0.05)


def _runtime(data_dir: Path, settings: LedgerSettings, base_url: str = "http://spec") -> Runtime:
    store = LocalObjectStore(data_dir / "objects", "s" * 32, base_url)
    clock = FakeClock(datetime(2026, 9, 1, 0, 0, tzinfo=UTC))  # 08:00 in Shanghai
    return Runtime(settings=settings, bus=InProcessBus(None), store=store, tokens=TOKENS, clock=clock)


def _serve(data_dir: Path) -> fuzz.Serve:
    @contextlib.asynccontextmanager
    async def serve(base_url: str) -> AsyncIterator[LedgerService]:
        settings = _settings(data_dir)
        runtime = _runtime(data_dir, settings, base_url)
        svc = create_service(runtime, settings)
        await svc.start()
        await runtime.bus.start()
        try:
            events = [site_event(TENANT, site) for site in SITES]
            events.append(user_event(TENANT, ADMIN, role=Role.PLATFORM_ADMIN.value, org_path="/"))
            await publish(runtime.bus, events)

            async def sites_known() -> bool:
                known = await svc.directory.known_sites(tenant_id=TENANT, site_ids=set(SITE_IDS))
                return known == set(SITE_IDS)

            await eventually(sites_known, what="the ledger's read model holds the fuzzed sites")
            yield svc
        finally:
            await svc.stop()
            await runtime.bus.stop()

    return serve


@pytest.fixture(scope="module")
def server() -> Iterator[fuzz.LoopbackServer]:
    with (
        tempfile.TemporaryDirectory(prefix="bk-schemathesis-") as tmp,
        fuzz.serving(_serve(Path(tmp)), name="ledger") as srv,
    ):
        yield srv


@pytest.fixture(scope="module")
def callers() -> dict[str, dict[str, str]]:
    admin = TOKENS.issue(Principal(subject=ADMIN, tenant_id=TENANT, role=Role.PLATFORM_ADMIN))
    public_api = grant(TOKENS, SERVICE_IDENTITIES[PUBLIC_API], TokenRequest(tenant_id=TENANT)).access_token
    return {
        "admin": {"Authorization": f"Bearer {admin}"},
        "public-api": {"Authorization": f"Bearer {public_api}"},
    }


def _spec() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bk-openapi-") as tmp:
        settings = _settings(Path(tmp))
        return create_service(_runtime(Path(tmp), settings), settings).app.openapi()


schema = fuzz.schema_of(_spec())
TALLY = fuzz.Tally()


@schema.parametrize()
@fuzz.fuzz_settings(ci_examples=15)  # 47 operations: 15 each keeps the module near a minute
def test_no_server_errors_and_schema_conformance(case, callers, server) -> None:  # type: ignore[no-untyped-def]
    if fuzz.should_skip(case.path, SKIP_PATHS):
        return
    created = {name: TALLY.created_at(collection) for name, collection in CREATED_BY.items()}
    records = TALLY.created_at(case.path.split("/{record_id}")[0])
    fuzz.steer(
        case,
        path={"site_id": SITE_IDS, "record_id": records, **created},
        query={"site_id": SITE_IDS},
        body={"site_id": SITE_IDS, **created},
    )
    caller = "public-api" if case.path.startswith("/v1/public/") else "admin"
    TALLY.call(case, server.base_url, callers[caller])


def test_the_fuzzing_reached_the_routes_work() -> None:
    """Most routes answered 2xx at least once: the fuzzing got past authentication and ids to the
    work itself. What stays below is a body whose every field must be real and consistent (a new
    tenant, user or site, an upload with real photos, a transition from the right state), whose
    refusals are still fuzzed. ``pytest -rP`` shows each operation's statuses."""
    print(TALLY.summary())
    fuzz.assert_did_work(TALLY, schema, SKIP_PATHS, at_least=0.5)


async def test_rule_thresholds_are_numbers_not_booleans(h) -> None:  # type: ignore[no-untyped-def]
    """Found by schemathesis: ``false`` was taken for 0 warning days (pydantic's lax mode)."""
    body = {"expiry": {"health_certificate_warn_days": 30, "supplier_licence_warn_days": False}}
    r = await h.client.put("/v1/rules/config", json=body, headers=h.auth(Role.PLATFORM_ADMIN))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "supplier_licence_warn_days"
    body["expiry"]["supplier_licence_warn_days"] = 0
    assert (
        await h.client.put("/v1/rules/config", json=body, headers=h.auth(Role.PLATFORM_ADMIN))
    ).status_code == 200


async def test_a_sensor_edit_may_not_null_what_it_must_keep(h) -> None:  # type: ignore[no-untyped-def]
    """Found by schemathesis: ``PATCH {"name": null}`` wrote NULL into a NOT NULL column (a 500)."""
    body = {"site_id": "lakeside-primary", "name": "冷藏冰箱 1", "kind": "fridge"}
    r = await h.client.post("/v1/iot/sensors", headers=h.auth(), json=body)
    assert r.status_code == 201, r.text
    sensor = r.json()["id"]
    for field in ("name", "window_s", "silence_s", "active"):
        r = await h.client.patch(f"/v1/iot/sensors/{sensor}", headers=h.auth(), json={field: None})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], r.text
    r = await h.client.patch(f"/v1/iot/sensors/{sensor}", headers=h.auth(), json={"min_value": None})
    assert r.status_code == 200 and r.json()["name"] == "冷藏冰箱 1", r.text  # a limit may be cleared
