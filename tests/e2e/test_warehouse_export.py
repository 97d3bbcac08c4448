"""The warehouse export end to end (#21.1): a day of demo data on the embedded platform, exported by
``brightkitchen export`` (both services, a progress bar), read back with pyarrow and with DuckDB, the
same counts as the services' own APIs; a re-run byte for byte; every manifest verifies, a tampered
file does not; personal data pseudonymised (the demo tenant's policy does not allow it raw)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest

from bkcore.settings import CoreSettings
from bkcore.testing.pictures import jpeg
from bkcore.warehouse import Manifest, read_manifest, verify
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e
TENANT = "minghu"
SITE = "lakeside-primary"
CLI = [sys.executable, "-m", "brightkitchen.main"]


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/api/cases/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _ok(r: Any) -> Any:
    resp = await r
    assert resp.status_code in (200, 201), (resp.request.url, resp.text)
    return resp.json()


async def _write_a_day(client: httpx.AsyncClient, manager: dict[str, str], now: datetime) -> str:
    """A canteen's day: morning checks, a passing and a failing rapid test, disinfection, a sample,
    staff, a supplier, and a fridge reporting every minute of the last hour (today's part of it)."""
    at = now.isoformat()
    post = client.post
    for i, name in enumerate(("陈强", "李娜", "王伟")):
        body = {"site_id": SITE, "staff_id": f"s{i}", "staff_name": name, "checked_at": at}
        body |= {"temperature_c": 36.4, "hands_ok": True, "dress_ok": True, "checker": "张芳"}
        await _ok(post("/api/ledger/v1/morning-checks", json=body, headers=manager))
    for item, pct in (("青菜 bok choy", 12.0), ("菠菜 spinach", 62.5)):
        body = {"site_id": SITE, "sample_no": f"S-{pct}", "item": item, "inhibition_pct": pct}
        body |= {"tester": "陈强", "tested_at": at, "disposition": "returned"}
        await _ok(post("/api/ledger/v1/pesticide-tests", json=body, headers=manager))
    body = {"site_id": SITE, "items": "餐盘", "quantity": 200, "operator": "李娜", "method": "dishwasher"}
    body |= {"temperature_c": 85, "started_at": (now - timedelta(seconds=50)).isoformat(), "ended_at": at}
    await _ok(post("/api/ledger/v1/disinfections", json=body, headers=manager))
    body = {"site_id": SITE, "dish": "红烧肉", "meal": "lunch", "meal_date": now.date().isoformat()}
    body |= {"taken_at": at, "taker": "王伟", "fridge": "F1", "weight_g": 130}
    body |= {"planned_disposal_at": (now + timedelta(hours=48)).isoformat()}
    await _ok(post("/api/ledger/v1/samples", json=body, headers=manager))
    await _ok(
        post(
            "/api/ledger/v1/staff",
            json={"site_id": SITE, "name": "陈强", "position": "厨师"},
            headers=manager,
        )
    )
    supplier = {"site_id": SITE, "name": "明湖蔬菜配送", "address": "菜市路 1 号", "contact": "赵"}
    supplier |= {"phone": "0571-88886666", "business_licence_no": "91350100M000100Y43"}
    supplier |= {"food_licence_no": "JY13301000001", "food_licence_expires": "2027-12-31"}
    await _ok(
        post(
            "/api/ledger/v1/suppliers",
            data={"payload": json.dumps(supplier)},
            files=[("licences", ("l.jpg", jpeg(), "image/jpeg"))],
            headers=manager,
        )
    )
    sensor = await _ok(
        post(
            "/api/ledger/v1/iot/sensors",
            json={"site_id": SITE, "name": "留样冰箱", "kind": "fridge"},
            headers=manager,
        )
    )
    midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    stamps = [now - timedelta(minutes=m) for m in range(60) if now - timedelta(minutes=m) >= midnight]
    readings = [{"ts": t.isoformat(), "value": 3.0 + (i % 4) / 2} for i, t in enumerate(stamps)]
    answer = await _ok(
        post(
            f"/api/ledger/v1/iot/sensors/{sensor['id']}/readings",
            json={"readings": readings},
            headers={"X-Device-Token": sensor["device_token"]},
        )
    )
    assert answer["accepted"] == len(readings)
    return str(sensor["id"])


async def _close_the_loop(
    client: httpx.AsyncClient, manager: dict[str, str], supervisor: dict[str, str]
) -> str:
    """The failed rapid test's case: rectified by the canteen, approved and closed by the supervisor."""
    for _ in range(120):
        page = await _ok(client.get("/api/cases/cases", params={"source": "ledger"}, headers=supervisor))
        if page["items"]:
            break
        await asyncio.sleep(0.5)
    [case] = page["items"]
    cid = case["id"]
    await _ok(
        client.post(
            f"/api/cases/cases/{cid}/rectifications",
            data={"note": "已退货并清洗 returned, washed"},
            files=[("photos", ("fix.jpg", jpeg(), "image/jpeg"))],
            headers=manager,
        )
    )
    await _ok(client.post(f"/api/cases/cases/{cid}/approve", json={}, headers=supervisor))
    await _ok(client.post(f"/api/cases/cases/{cid}/close", json={}, headers=supervisor))
    return str(cid)


async def _cli_export(base: str, first: date, last: date) -> str:
    env = {**os.environ, "BK_ADMIN_PASSWORD": "demo-admin"}
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "export",
        "--tenant",
        TENANT,
        "--from",
        first.isoformat(),
        "--to",
        last.isoformat(),
        "--cases-url",
        f"{base}/api/cases",
        "--ledger-url",
        f"{base}/api/ledger",
        "--username",
        "admin",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=600)
    assert proc.returncode == 0, (out.decode(), err.decode())
    assert "导出 export minghu" in err.decode()  # the progress bar
    return out.decode()


async def test_a_day_exported_reads_back_with_the_apis_counts(tmp_path: Path) -> None:
    options = PlatformOptions(port=0, simulated_cameras=False)
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client,
    ):
        assert platform.runtime is not None
        store = platform.runtime.store
        manager = await _login(client, "manager", "demo-manager")
        supervisor = await _login(client, "lakeside", "demo-lakeside")
        admin = await _login(client, "admin", "demo-admin")
        first = datetime.now(UTC).date()
        sensor = await _write_a_day(client, manager, datetime.now(UTC))
        case_id = await _close_the_loop(client, manager, supervisor)
        last = datetime.now(UTC).date()  # the day turned while writing: the window takes both

        out = await _cli_export(platform.base_url, first, last)
        assert "manifests verified" in out, out
        manifests: list[Manifest] = []
        for day in {first, last}:
            for producer in ("case-manager", "ledger"):
                m = await read_manifest(store, tenant_id=TENANT, producer=producer, day=day)
                assert m is not None and m.personal_data == "pseudonymised"
                assert await verify(store, m) == []
                manifests.append(m)
        rows: dict[str, int] = {}
        files: dict[str, bytes] = {}
        arrow: dict[str, list[dict[str, Any]]] = {}
        for m in manifests:
            for f in m.files:
                files[f.key] = await store.get(f.key)
                table = pq.read_table(io.BytesIO(files[f.key]))
                assert table.num_rows == f.rows
                rows[f.table] = rows.get(f.table, 0) + f.rows
                arrow.setdefault(f.table, []).extend(table.to_pylist())

        # DuckDB reads the partitions straight from the files (Hive-style ``date=``), same counts.
        root = store.root / TENANT / "warehouse"  # type: ignore[attr-defined]
        con = duckdb.connect()
        for table, n in rows.items():
            days_ = ", ".join(f"'{d.isoformat()}'" for d in sorted({first, last}))
            sql = (
                f"SELECT count(*) FROM read_parquet('{root}/{table}/v1/*/*.parquet', hive_partitioning=true) "
                f"WHERE date IN ({days_})"
            )
            assert con.execute(sql).fetchone() == (n,), table

        # The services' own APIs count the same.
        since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        page = await _ok(
            client.get(
                "/api/cases/cases",
                params={"since": since.isoformat(), "until": until.isoformat(), "limit": 200},
                headers=admin,
            )
        )
        assert rows["cases"] == page["total"] == 1
        detail = await _ok(client.get(f"/api/cases/cases/{case_id}", headers=admin))
        assert rows["case_events"] == len(detail["timeline"]) >= 4
        assert rows["rectifications"] == len(detail["rectifications"]) == 1
        assert rows["verdicts"] == (1 if detail["verdict"] in ("confirmed", "false_alarm") else 0)
        days_n = len({first, last})
        sites = await _ok(client.get("/api/cases/sites", headers=admin))
        assert rows["dir_sites"] == len(sites) * days_n
        units = await _ok(client.get("/api/cases/org-units", headers=admin))
        assert rows["dir_org_units"] == len(units) * days_n
        scores = await _ok(client.get("/api/cases/stats/risk-scores", headers=admin))
        assert rows["site_scores"] == len(scores["sites"]) * days_n
        wide = {
            "start": (first - timedelta(days=1)).isoformat(),
            "end": (last + timedelta(days=1)).isoformat(),
        }
        for table, path in {
            "ledger_morning_checks": "morning-checks",
            "ledger_pesticide_tests": "pesticide-tests",
            "ledger_disinfections": "disinfections",
            "ledger_samples": "samples",
            "ledger_staff": "staff",
            "ledger_suppliers": "suppliers",
        }.items():
            listed = await _ok(
                client.get(f"/api/ledger/v1/{path}", params={**wide, "limit": 500}, headers=admin)
            )
            assert rows[table] == len(listed) > 0, table
        history = await _ok(
            client.get(
                f"/api/ledger/v1/iot/sensors/{sensor}/history",
                params={"start": since.isoformat(), "end": until.isoformat(), "bucket_s": 3600},
                headers=admin,
            )
        )
        assert rows["sensor_readings"] == sum(p["n"] for p in history["points"]) > 0
        assert rows["sensor_readings_hourly"] == len(history["points"])

        # Personal data pseudonymised: staff names, users' names, the supplier's phone.
        assert all(r["staff_name"].startswith("ps_") for r in arrow["ledger_morning_checks"])
        assert all(r["phone"].startswith("ps_") for r in arrow["ledger_suppliers"])
        names = {r["name"] for r in arrow["dir_users"]}
        assert names and all(n.startswith("ps_") for n in names if n)
        assert "平台管理员" not in names

        # A supervisor's question answered from the files: closure rate by district and month.
        q = f"""
            SELECT split_part(org_path, '/', 3) AS district, strftime(created_at, '%Y-%m') AS month,
                   count(*) AS captured, count(closed_at) AS closed
            FROM read_parquet('{root}/cases/v1/*/*.parquet', hive_partitioning = true)
            GROUP BY ALL ORDER BY ALL"""
        assert con.execute(q).fetchall() == [("lakeside", since.strftime("%Y-%m"), 1, 1)]

        # A re-run of the same window replaces it with the same bytes; a tampered file is caught.
        await _cli_export(platform.base_url, first, last)
        for key, data in files.items():
            assert await store.get(key) == data, key
        for m in manifests:
            again = await read_manifest(
                store, tenant_id=TENANT, producer=m.producer, day=m.window_start.date()
            )
            assert again == m
        victim = next(f for f in manifests[0].files if f.rows > 0)
        await store.put(victim.key, files[victim.key][:-8] + b"tampered")
        assert await verify(store, manifests[0]) == [f"{victim.key}: sha256 differs from the manifest"]
