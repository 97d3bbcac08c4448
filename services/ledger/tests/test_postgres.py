"""The same service on PostgreSQL (127.0.0.1:5432, own schema). Fails loudly if unreachable — never skips."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

PG = os.environ.get("BK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
T0 = datetime(2026, 9, 1, tzinfo=UTC).timestamp()


async def _reachable() -> None:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG), 5)
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG} is required for this test and is unreachable: {exc!r}")
    await conn.close()


async def _drop(schema: str) -> None:
    conn = await asyncpg.connect(PG)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


@pytest.mark.integration
async def test_postgres_migrate_ingest_and_alert(tmp_path, harness_factory) -> None:  # type: ignore[no-untyped-def]
    await _reachable()
    schema = f"ledger_test_{uuid.uuid4().hex[:8]}"
    try:
        async for h in harness_factory(tmp_path, database_url=PG, schema=schema):
            r = await h.client.post(
                "/v1/iot/sensors",
                headers=h.auth(),
                json={
                    "site_id": "lakeside-primary",
                    "name": "留样冰箱",
                    "kind": "sample_fridge",
                    "window_s": 600,
                },
            )
            sid, tok = r.json()["id"], {"X-Device-Token": r.json()["device_token"]}
            readings = [{"ts": T0 - 1200 + i, "value": 9.5} for i in range(0, 1201, 2)]
            r = await h.client.post(
                f"/v1/iot/sensors/{sid}/readings", json={"readings": readings[::-1]}, headers=tok
            )
            assert r.json()["accepted"] == 601
            await h.client.post(f"/v1/iot/sensors/{sid}/readings", json={"readings": readings}, headers=tok)
            await h.flush()
            assert [d.event.rule for d in h.alerts] == ["sensor_out_of_range"]
    finally:
        await _drop(schema)
