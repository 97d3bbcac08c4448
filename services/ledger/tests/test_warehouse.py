"""The ledger's warehouse export (#21): every ledger and the sensor readings as Parquet by day, the
counts the ledger's own API gives, a re-run byte for byte, the manifest verified (and a tampered file
caught), names and phones pseudonymised; and the one-day listing (start = end) that found nothing."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from bk_ledger.warehouse.tables import LEDGERS, SENSOR_READINGS, SENSOR_READINGS_HOURLY
from bkcore.auth import Role
from bkcore.testing.pictures import jpeg
from bkcore.warehouse import Manifest, verify

DAY = "2026-09-01"
SITE = "lakeside-primary"
# Pinned schema fingerprints per (table, version): a schema change without a version bump fails here.
FINGERPRINTS = {
    ("ledger_morning_checks", 1): "46abd68e50da",
    ("ledger_purchases", 1): "32e18c6ff40a",
    ("ledger_suppliers", 1): "5472355f79d2",
    ("ledger_pesticide_tests", 1): "2a38c7bae48f",
    ("ledger_disinfections", 1): "613bdc525f47",
    ("ledger_samples", 1): "7bc916911bc4",
    ("ledger_accompanying_meals", 1): "605c5845ed02",
    ("ledger_dishes_served", 1): "e9b6970098c0",
    ("ledger_staff", 1): "5decf5b46a31",
    ("ledger_health_certificates", 1): "fbf37a3a1aa3",
    ("ledger_exam_results", 1): "fd61ed51e940",
}


def test_a_schema_change_bumps_the_version() -> None:
    specs = [t.spec for t in LEDGERS.values()] + [SENSOR_READINGS, SENSOR_READINGS_HOURLY]
    got = {(s.name, s.version): s.fingerprint[:12] for s in specs if s.name in {k for k, _ in FINGERPRINTS}}
    assert got == FINGERPRINTS, "a ledger table changed: bump its version in bk_ledger.warehouse.tables"


async def test_one_day_listing_includes_the_whole_local_day(h) -> None:  # type: ignore[no-untyped-def]
    """start = end = a day lists that day's tests (the site's day, Asia/Shanghai), not nothing."""
    h.clock.set(datetime(2026, 9, 1, 18, 0, tzinfo=UTC))
    base = {"site_id": SITE, "sample_no": "N", "item": "青菜", "tester": "王", "inhibition_pct": 10}
    ids = []
    for at in ("2026-09-01T07:00:00+08:00", "2026-09-01T12:00:00+08:00", "2026-09-02T01:00:00+08:00"):
        r = await h.client.post("/v1/pesticide-tests", json={**base, "tested_at": at}, headers=h.auth())
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    # A site's listing is in the site's days (Asia/Shanghai); without a site, in the tenant's, and
    # the harness publishes no tenant: UTC days, where 07:00+08:00 is still the 31st.
    for params, want in (({"site_id": SITE}, ids[:2]), ({}, ids[1:])):
        r = await h.client.get(
            "/v1/pesticide-tests", params={"start": DAY, "end": DAY, **params}, headers=h.auth()
        )
        assert r.status_code == 200, r.text
        assert sorted(x["id"] for x in r.json()) == sorted(want), params


async def _seed(h) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """One day of ledgers at the site, and a fridge sensor reporting every 10 minutes since 06:00."""
    mgr = h.auth()
    posts = {
        "/v1/morning-checks": [
            {
                "staff_id": f"s{i}",
                "staff_name": name,
                "checked_at": "2026-09-01T07:00:00+08:00",
                "temperature_c": 36.5,
                "hands_ok": True,
                "dress_ok": True,
                "checker": "张芳",
            }
            for i, name in enumerate(("陈强", "李娜", "王伟"))
        ],
        "/v1/pesticide-tests": [
            {"sample_no": "N1", "item": "青菜", "tester": "王", "tested_at": "2026-09-01T15:30:00+08:00"}
            | {"inhibition_pct": pct}
            for pct in (12.0, 61.0)
        ],
        "/v1/staff": [{"name": "陈强", "position": "厨师"}],
    }
    for path, bodies in posts.items():
        for body in bodies:
            r = await h.client.post(path, json={"site_id": SITE, **body}, headers=mgr)
            assert r.status_code == 201, (path, r.text)
    supplier = {
        "site_id": SITE,
        "name": "明湖蔬菜配送",
        "address": "菜市路 1 号",
        "contact": "赵",
        "phone": "0571-88886666",
        "business_licence_no": "91350100M000100Y43",
        "food_licence_no": "JY13301000001",
    }
    r = await h.client.post(
        "/v1/suppliers",
        data={"payload": json.dumps(supplier | {"food_licence_expires": "2027-12-31"})},
        files=[("licences", ("l.jpg", jpeg(), "image/jpeg"))],
        headers=mgr,
    )
    assert r.status_code == 201, r.text
    r = await h.client.post(
        "/v1/iot/sensors", json={"site_id": SITE, "name": "冷藏冰箱 1", "kind": "fridge"}, headers=mgr
    )
    assert r.status_code == 201, r.text
    sensor = r.json()
    first = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
    readings = [
        {"ts": (first + timedelta(minutes=10 * i)).isoformat(), "value": 3.0 + (i % 5) / 2} for i in range(60)
    ]
    r = await h.client.post(
        f"/v1/iot/sensors/{sensor['id']}/readings",
        json={"readings": readings},
        headers={"X-Device-Token": sensor["device_token"]},
    )
    assert r.status_code == 200 and r.json()["accepted"] == 60, r.text
    return {"sensor_readings": 60, "sensor": sensor["id"]}  # type: ignore[dict-item]


async def _export(h, **body):  # type: ignore[no-untyped-def]
    admin = h.auth(Role.PLATFORM_ADMIN, sites=())
    r = await h.client.post(
        "/v1/warehouse/exports", json={"tenant_id": "minghu", "start": DAY, "end": DAY, **body}, headers=admin
    )
    return r


async def test_export_a_day_reads_back_with_the_apis_counts(h) -> None:  # type: ignore[no-untyped-def]
    await _export_a_day(h)


@pytest.mark.integration
async def test_export_on_postgresql(h_pg) -> None:  # type: ignore[no-untyped-def]
    """The same day on PostgreSQL (timestamptz, its own ordering and averages)."""
    await _export_a_day(h_pg)


async def _export_a_day(h) -> None:  # type: ignore[no-untyped-def]
    h.clock.set(datetime(2026, 9, 1, 16, 30, tzinfo=UTC))
    seeded = await _seed(h)
    r = await _export(h)
    assert r.status_code == 200, r.text
    [manifest] = [Manifest.model_validate(m) for m in r.json()["manifests"]]
    assert r.json()["problems"] == [] and manifest.personal_data == "pseudonymised"
    assert (manifest.window_start, manifest.window_end) == (
        datetime(2026, 9, 1, tzinfo=UTC),
        datetime(2026, 9, 2, tzinfo=UTC),
    )
    files = {f.table: f for f in manifest.files}
    tables = {}
    for name, f in files.items():
        assert f.key == f"minghu/warehouse/{name}/v{f.version}/date={DAY}/part-0.parquet"
        tables[name] = pq.read_table(io.BytesIO(await h.store.get(f.key)))
        assert tables[name].num_rows == f.rows

    # The ledger's own API, over the same day, counts the same.
    mgr = h.auth()
    api = {
        "ledger_morning_checks": "/v1/morning-checks",
        "ledger_pesticide_tests": "/v1/pesticide-tests",
        "ledger_staff": "/v1/staff",
    }
    for table, path in api.items():
        listed = await h.client.get(path, params={"start": DAY, "end": DAY, "limit": 1000}, headers=mgr)
        assert len(listed.json()) == files[table].rows > 0, table
    assert files["ledger_suppliers"].rows == 1
    assert files["sensor_readings"].rows == seeded["sensor_readings"]
    history = await h.client.get(
        f"/v1/iot/sensors/{seeded['sensor']}/history",
        params={"start": f"{DAY}T00:00:00+00:00", "end": "2026-09-02T00:00:00+00:00", "bucket_s": 3600},
        headers=mgr,
    )
    points = history.json()["points"]
    hourly = tables["sensor_readings_hourly"].to_pylist()
    assert len(hourly) == len(points) == 10
    assert [(p["n"], p["min"], p["max"], p["avg"]) for p in points] == [
        (x["n"], x["min"], x["max"], x["mean"]) for x in hourly
    ]

    # Personal data pseudonymised: the same person the same pseudonym, the phone never raw.
    checks = tables["ledger_morning_checks"].to_pylist()
    assert all(c["staff_name"].startswith("ps_") and c["checker"].startswith("ps_") for c in checks)
    assert len({c["checker"] for c in checks}) == 1 and len({c["staff_name"] for c in checks}) == 3
    [supplier] = tables["ledger_suppliers"].to_pylist()
    assert supplier["phone"].startswith("ps_") and supplier["name"] == "明湖蔬菜配送"
    assert tables["ledger_staff"].to_pylist()[0]["name"] == checks[0]["staff_name"] or any(
        tables["ledger_staff"].to_pylist()[0]["name"] == c["staff_name"] for c in checks
    )

    # A re-run of the window writes the same bytes; the manifest verifies; a tampered file does not.
    before = {f.key: await h.store.get(f.key) for f in manifest.files}
    again = await _export(h)
    assert again.json()["manifests"] == r.json()["manifests"]
    assert {f.key: await h.store.get(f.key) for f in manifest.files} == before
    assert await verify(h.store, manifest) == []
    key = files["ledger_pesticide_tests"].key
    await h.store.put(key, before[files["ledger_morning_checks"].key])
    assert await verify(h.store, manifest) == [f"{key}: sha256 differs from the manifest"]


async def test_export_refusals(h) -> None:  # type: ignore[no-untyped-def]
    r = await _export(h, tables=["ledger_nothing"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "tables"]
    r = await _export(h, end="2026-08-01")
    assert r.status_code == 422, r.text
    r = await _export(h, tenant_id="riverton")  # another tenant's admin only
    assert r.status_code == 404
    r = await h.client.post(
        "/v1/warehouse/exports",
        json={"tenant_id": "minghu", "start": DAY, "end": DAY},
        headers=h.auth(Role.SERVICE),  # the public-api's identity: no warehouse scope
    )
    assert r.status_code == 403
    r = await h.client.post(
        "/v1/warehouse/exports", json={"tenant_id": "minghu", "start": DAY, "end": DAY}, headers=h.auth()
    )
    assert r.status_code == 403  # a site manager


async def test_the_nightly_export(tmp_path, harness_factory) -> None:  # type: ignore[no-untyped-def]
    """BK_WAREHOUSE_EXPORT_AT: after its time each day, every tenant's last lookback days, once."""
    async for h in harness_factory(tmp_path, warehouse_export_at="02:30", warehouse_lookback_days=2):
        h.clock.set(datetime(2026, 9, 3, 2, 0, tzinfo=UTC))
        h.service.warehouse.wake()  # before its time: nothing
        await asyncio.sleep(0.5)  # the loop's step has had its chance
        for day in ("2026-09-01", "2026-09-02"):
            assert not await h.store.exists(f"minghu/warehouse/_manifests/ledger/{day}.json")
        h.clock.set(datetime(2026, 9, 3, 2, 31, tzinfo=UTC))
        h.service.warehouse.wake()
        for day in ("2026-09-01", "2026-09-02"):
            key = f"minghu/warehouse/_manifests/ledger/{day}.json"
            for _ in range(200):
                if await h.store.exists(key):
                    break
                await asyncio.sleep(0.05)
            manifest = Manifest.model_validate_json(await h.store.get(key))
            assert await verify(h.store, manifest) == [] and len(manifest.files) == 13
        assert not await h.store.exists("minghu/warehouse/_manifests/ledger/2026-08-31.json")


async def test_a_tenant_whose_policy_allows_personal_data(tmp_path, harness_factory) -> None:  # type: ignore[no-untyped-def]
    async for h in harness_factory(tmp_path, warehouse_raw_personal_tenants=["minghu"]):
        h.clock.set(datetime(2026, 9, 1, 16, 30, tzinfo=UTC))
        await _seed(h)
        r = await _export(h, tables=["ledger_suppliers", "ledger_morning_checks"])
        [manifest] = [Manifest.model_validate(m) for m in r.json()["manifests"]]
        assert manifest.personal_data == "raw"
        suppliers, checks = [pq.read_table(io.BytesIO(await h.store.get(f.key))) for f in manifest.files]
        assert suppliers.column("phone").to_pylist() == ["0571-88886666"]
        assert sorted(checks.column("staff_name").to_pylist()) == sorted(["陈强", "李娜", "王伟"])
