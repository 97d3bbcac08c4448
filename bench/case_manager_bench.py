"""case-manager benchmark: detections/s turned into cases (Kafka-protocol mock broker + PostgreSQL),
and p95 latency from a detection's time to its notification being queued in the outbox.

    .venv/bin/python bench/case_manager_bench.py [--detections 50000] [--sites 200] [--rate 0]
        [--mode full|db|broker]

- ``full``: the service on the Kafka bus and PostgreSQL; the detections are published in one burst
  (``--rate 0``) or paced at ``--rate`` per second (then the p95 latency is not a backlog's wait).
  The detections come from a child process (the detector side), unless ``--same-process``.
- ``db``: the same consumer batches handed straight to the batch handler (no broker): the DB path.
- ``broker``: the mock broker alone: publish, then consume with a handler that does nothing.

Latency: a notification's queue time (its outbox row) minus its case's first detection time.
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

from cm_demo import Camera, OrgUnit, Site, User
from cm_pg import fresh_database
from sqlalchemy import func, select

from bk_cases.cases.consumers import BATCH_CONSUMERS, batch_handler
from bk_cases.cases.models import Case
from bk_cases.db import inbox, outbox
from bk_cases.service import create_service
from bk_cases.settings import CaseSettings
from bkcore.bus.base import TOPICS, Delivery, new_meta
from bkcore.bus.kafka import KafkaBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.kafka import kafka_mock_cluster
from bkcore.testing.tokens import new_token_issuer
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


async def _publish(bus: KafkaBus, events: list[ViolationDetected], rate: float) -> None:
    chunk = 500
    t0 = time.perf_counter()
    for i in range(0, len(events), chunk):
        if rate > 0:  # paced: chunk i is due at i / rate seconds
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        batch = events[i : i + chunk]
        now = datetime.now(UTC)  # a detection's time is when the detector sends it, not when built
        for e in batch:
            e.meta.occurred_at.FromDatetime(now)
            e.started_at.FromDatetime(now)
        await bus.publish_many([("detections.v1", e) for e in batch])


async def _latencies(svc) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    async with svc.db.session() as s:
        rows = (
            await s.execute(
                select(outbox.c.payload, outbox.c.created_at).where(outbox.c.topic == "notifications.v1")
            )
        ).all()
        first_seen = dict((await s.execute(select(Case.id, Case.first_seen_at))).all())
        cases = int(
            await s.scalar(select(func.count()).select_from(outbox).where(outbox.c.topic == "cases.v1")) or 0
        )
    lat = []
    for r in rows:
        case_id = NotificationRequested.FromString(r.payload).case_id
        if case_id in first_seen:
            lat.append((r.created_at - first_seen[case_id]).total_seconds())
    return sorted(lat), cases


async def _create_topics(bootstrap: str) -> None:
    """The mock broker refuses CreateTopics and auto-creates topics on first use; a topic appearing
    while the service runs rebalances its group (a ~3 s pause and redelivered batches): create them
    all up front, as a real cluster's operators would."""
    warm = KafkaBus(bootstrap, "bench-warmup", create_topics=False)
    await warm.start()
    for topic in TOPICS:
        for name in (topic, topic + ".dlq"):
            await warm._producer.partitions_for(name)  # type: ignore[union-attr]
    await warm.stop()


async def _joined(bus: KafkaBus) -> None:
    """Wait until every consumer group has its partitions (the mock cluster takes ~3 s to form a
    group): otherwise the first detections wait for the join and the latency measures that."""
    while not all(c.assignment() for c in bus._consumers.values()):  # noqa: ASYNC110 (polls aiokafka)
        await asyncio.sleep(0.05)


async def _wait_inbox(svc, n: int) -> None:  # type: ignore[no-untyped-def]
    group = svc.ctx.settings.consumer_group  # not the notifier's claims, which share the table
    while True:
        async with svc.db.session() as s:
            done = int(
                await s.scalar(select(func.count()).select_from(inbox).where(inbox.c.consumer == group)) or 0
            )
        if done >= n:
            return
        await asyncio.sleep(0.05)


async def _publish_elsewhere(bootstrap: str, n: int, sites: int, rate: float) -> tuple[float, float]:
    """Publish from a child process (``--publisher``); returns when it started publishing (wall
    clock: its start-up and building the events are not the service's time) and for how long."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--publisher",
        bootstrap,
        "--detections",
        str(n),
        "--sites",
        str(sites),
        "--rate",
        str(rate),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"publisher failed ({proc.returncode})")
    started, took = out.decode().split()[-2:]
    return float(started), float(took)


async def _publisher(bootstrap: str, n: int, sites: int, rate: float) -> None:
    bus = KafkaBus(bootstrap, "bench-publisher", create_topics=False)
    await bus.start()
    events = [detection(i, sites) for i in range(n)]
    started, t0 = time.time(), time.perf_counter()
    await _publish(bus, events, rate)
    print(f"{started:.6f} {time.perf_counter() - t0:.3f}")
    await bus.stop()


async def run(
    n: int,
    sites: int,
    rate: float = 0.0,
    mode: str = "full",
    coalesce_s: float = 5.0,
    separate: bool = True,
) -> dict[str, float]:
    with kafka_mock_cluster() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        await _create_topics(bootstrap)
        bus = KafkaBus(bootstrap, "bench", topic_partitions=8, replication_factor=1)
        if mode == "broker":
            events = [detection(i, sites) for i in range(n)]
            got = 0
            all_in = asyncio.Event()

            async def nothing(ds: list[Delivery]) -> None:
                nonlocal got
                got += len(ds)
                if got >= n:
                    all_in.set()

            bus.subscribe_batch("detections.v1", "bench", nothing)
            await bus.start()
            await _joined(bus)
            t0 = time.perf_counter()
            await _publish(bus, events, rate)
            t_pub = time.perf_counter() - t0
            await all_in.wait()
            elapsed = time.perf_counter() - t0
            await bus.stop()
            return {
                "detections": n,
                "publish_s": t_pub,
                "elapsed_s": elapsed,
                "detections_per_s": n / elapsed,
            }
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
                case_update_coalesce_s=coalesce_s,
            )
            runtime = Runtime(
                settings=settings,
                bus=bus,
                store=LocalObjectStore(Path(tmp), SECRET, "http://b"),
                tokens=new_token_issuer(),
            )
            svc = create_service(runtime, settings)
            if mode == "db":  # consumer batches of 500 per partition, straight into the handler
                svc._consumers_subscribed = True
            await svc.start()
            # Seed before the consumers join: hashing 200 users' passwords blocks the event loop for
            # seconds, which expired the group's session and rebalanced it in the middle of the run.
            await svc.seed_demo(tenant(sites))
            await bus.start()
            await _joined(bus)
            events = [] if mode == "full" and separate else [detection(i, sites) for i in range(n)]
            t0 = time.perf_counter()
            if mode == "db":
                handle = batch_handler(svc.ctx, BATCH_CONSUMERS["detections.v1"])
                parts: dict[str, list[Delivery]] = {}
                for i, e in enumerate(events):
                    d = Delivery(
                        "detections.v1", e.meta.key, e, e.meta.event_id, "bench", hash(e.meta.key) % 8, i
                    )
                    parts.setdefault(str(d.partition), []).append(d)

                async def feed(ds: list[Delivery]) -> None:
                    for i in range(0, len(ds), settings.consumer_batch):
                        await handle(ds[i : i + settings.consumer_batch])

                await asyncio.gather(*(feed(ds) for ds in parts.values()))
                t_pub = 0.0
            elif separate:  # the detector's side in its own process, as in a deployment
                started, t_pub = await _publish_elsewhere(bootstrap, n, sites, rate)
                t0 -= time.time() - started - (time.perf_counter() - t0)  # count from its first send
            else:
                await _publish(bus, events, rate)
                t_pub = time.perf_counter() - t0
            await _wait_inbox(svc, n)
            elapsed = time.perf_counter() - t0
            lat, cases = await _latencies(svc)
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
    ap.add_argument("--detections", type=int, default=50_000)
    ap.add_argument("--sites", type=int, default=200)
    ap.add_argument("--rate", type=float, default=0.0, help="detections/s to publish at; 0: one burst")
    ap.add_argument("--mode", choices=["full", "db", "broker"], default="full")
    ap.add_argument(
        "--coalesce",
        type=float,
        default=5.0,
        help="BK_CASE_UPDATE_COALESCE_S; 0: a cases.v1 per case per batch",
    )
    ap.add_argument(
        "--same-process", action="store_true", help="publish from the service's own process and event loop"
    )
    ap.add_argument("--publisher", metavar="BOOTSTRAP", help=argparse.SUPPRESS)  # the child's role
    args = ap.parse_args()
    if args.publisher:
        asyncio.run(_publisher(args.publisher, args.detections, args.sites, args.rate))
        return
    result = asyncio.run(
        run(args.detections, args.sites, args.rate, args.mode, args.coalesce, not args.same_process)
    )
    for k, v in result.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
