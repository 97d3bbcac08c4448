"""Sensor readings ingested per second: HTTP (in-process ASGI) → validation → PostgreSQL, batched.

    .venv/bin/python bench/ledger_ingest_bench.py [--pg URL] [--batch 1000] [--batches 60] [--sensors 4]

Uses its own schema on the given server and drops it afterwards. Prints one line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bk_ledger.service import create_service
from bk_ledger.settings import LedgerSettings
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.directory import DirSite, site_event
from bkcore.testing.tokens import new_token_issuer


async def run(pg: str, batch: int, batches: int, n_sensors: int) -> None:
    schema = f"ledger_bench_{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp())
    settings = LedgerSettings(data_dir=tmp, database_url=pg, db_schema=schema, sweep_interval_s=3600)
    now = datetime(2026, 9, 1, tzinfo=UTC)
    tokens = new_token_issuer()
    rt = Runtime(
        settings=settings,
        bus=InProcessBus(None),
        store=LocalObjectStore(tmp / "o", "s", "http://x"),
        tokens=tokens,
        clock=FakeClock(now),
    )
    svc = create_service(rt, settings)
    await svc.start()
    try:
        async with svc.db.session() as s:  # the site as directory.v1 brings it (what its consumer does)
            await svc.directory.apply(s, site_event("t", DirSite("s1", "site", "restaurant", "/t")))
        admin = {"Authorization": "Bearer " + tokens.issue(Principal("a", "t", Role.PLATFORM_ADMIN))}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://b") as c:
            sensors = []
            for i in range(n_sensors):
                r = await c.post(
                    "/v1/iot/sensors",
                    headers=admin,
                    json={"site_id": "s1", "name": f"f{i}", "kind": "fridge"},
                )
                sensors.append((r.json()["id"], {"X-Device-Token": r.json()["device_token"]}))
            start_ts = (now - timedelta(days=6)).timestamp()

            async def feed(sid: str, tok: dict[str, str]) -> int:
                done = 0
                for b in range(batches):
                    base = start_ts + b * batch
                    body = {
                        "readings": [{"ts": base + i, "value": 4.0 + (i % 7) * 0.1} for i in range(batch)]
                    }
                    r = await c.post(f"/v1/iot/sensors/{sid}/readings", json=body, headers=tok)
                    done += r.json()["accepted"]
                return done

            t0 = time.perf_counter()
            total = sum(await asyncio.gather(*(feed(s, t) for s, t in sensors)))
            dt = time.perf_counter() - t0
        print(
            f"ledger ingest: {total} readings in {dt:.2f}s = {total / dt:,.0f} readings/s "
            f"(batch {batch}, {n_sensors} sensors concurrently, PostgreSQL)"
        )
    finally:
        await svc.stop()
        conn = await asyncpg.connect(pg.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--sensors", type=int, default=4)
    a = ap.parse_args()
    asyncio.run(run(a.pg, a.batch, a.batches, a.sensors))


if __name__ == "__main__":
    main()
