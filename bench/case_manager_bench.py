"""case-manager benchmark: detections/s turned into cases (Kafka-protocol mock broker + PostgreSQL),
and p95 latency from a detection's time to its notification being queued in the outbox.

    .venv/bin/python bench/case_manager_bench.py [--detections 5000] [--sites 200]

Needs kcat (mock broker) and PostgreSQL on 127.0.0.1:5432 (a fresh database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services/case-manager/tests"))

from demo import Camera, OrgUnit, Site, User
from pg import fresh_database
from sqlalchemy import func, select

from bk_cases.db import inbox, outbox
from bk_cases.service import create_service
from bk_cases.settings import CaseSettings
from bkcore.auth import TokenIssuer
from bkcore.bus.base import new_meta
from bkcore.bus.kafka import KafkaBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.kafka import kafka_mock_cluster
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from bkproto.events.v1.notifications_pb2 import NotificationRequested

SECRET = "bench-secret-0123456789abcdef-0123456789"
TYPES = ["no_mask", "no_chef_hat", "smoking", "phone_use", "trash_bin_open", "rodent"]


def tenant(sites: int) -> SimpleNamespace:
    return SimpleNamespace(
        TENANT_ID="bench",
        TENANT_NAME="Bench City",
        ORG_UNITS=(
            OrgUnit("bench", "Bench", "city", None, "/bench"),
            OrgUnit("d1", "D1", "district", "bench", "/bench/d1"),
        ),
        SITES=tuple(
            Site(
                f"s{i}",
                f"Site {i}",
                "restaurant",
                "d1",
                "",
                30.0,
                120.0,
                "",
                (Camera(f"s{i}-c0", "cooking", "c0"),),
            )
            for i in range(sites)
        ),
        USERS=(
            User("sup", "x", "supervisor", "sup", "d1"),
            *(User(f"m{i}", "x", "site_manager", f"m{i}", None, (f"s{i}",)) for i in range(sites)),
        ),
    )


def detection(i: int, sites: int) -> ViolationDetected:
    site, vtype = f"s{i % sites}", TYPES[(i // sites) % len(TYPES)]
    cam = f"{site}-c0"
    now = datetime.now(UTC)
    e = ViolationDetected(
        meta=new_meta(tenant_id="bench", key=cam, producer="bench", occurred_at=now),
        violation_id=f"v{i}",
        phase=ViolationPhase.VIOLATION_PHASE_STARTED,
        violation_type=vtype,
        site_id=site,
        camera_id=cam,
        zone="cooking",
        score=0.9,
    )
    e.started_at.FromDatetime(now)
    return e


async def run(n: int, sites: int) -> dict[str, float]:
    with kafka_mock_cluster() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        async with fresh_database() as url:
            settings = CaseSettings(
                data_dir=Path(tmp),
                database_url=url,
                jwt_secret=SECRET,
                url_signing_secret=SECRET,
                bus="kafka",
                kafka_bootstrap=bootstrap,
                outbox_poll_s=0.05,
                sweep_interval_s=3600,
                db_pool_size=20,
            )
            bus = KafkaBus(bootstrap, "bench", topic_partitions=8, replication_factor=1)
            runtime = Runtime(
                settings=settings,
                bus=bus,
                store=LocalObjectStore(Path(tmp), SECRET, "http://b"),
                tokens=TokenIssuer(SECRET),
            )
            svc = create_service(runtime, settings)
            await svc.start()
            await bus.start()
            await svc.seed_demo(tenant(sites))
            events = [detection(i, sites) for i in range(n)]
            t0 = time.perf_counter()
            await asyncio.gather(*(bus.publish("detections.v1", e) for e in events))
            t_pub = time.perf_counter() - t0
            while True:
                async with svc.db.session() as s:
                    done = int(await s.scalar(select(func.count()).select_from(inbox)) or 0)
                if done >= n:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - t0
            async with svc.db.session() as s:
                rows = (
                    await s.execute(
                        select(outbox.c.payload, outbox.c.created_at).where(
                            outbox.c.topic == "notifications.v1"
                        )
                    )
                ).all()
                cases = int(
                    await s.scalar(
                        select(func.count()).select_from(outbox).where(outbox.c.topic == "cases.v1")
                    )
                    or 0
                )
            lat = sorted(
                (
                    r.created_at
                    - NotificationRequested.FromString(r.payload).meta.occurred_at.ToDatetime(tzinfo=UTC)
                ).total_seconds()
                for r in rows
            )
            await bus.stop()
            await svc.stop()
    return {
        "detections": n,
        "publish_s": t_pub,
        "elapsed_s": elapsed,
        "detections_per_s": n / elapsed,
        "case_events": cases,
        "notifications": len(lat),
        "p50_notify_s": statistics.median(lat) if lat else float("nan"),
        "p95_notify_s": lat[int(len(lat) * 0.95) - 1] if lat else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detections", type=int, default=5000)
    ap.add_argument("--sites", type=int, default=200)
    args = ap.parse_args()
    result = asyncio.run(run(args.detections, args.sites))
    for k, v in result.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
