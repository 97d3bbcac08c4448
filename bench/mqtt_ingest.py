"""Sensor readings per second over MQTT into PostgreSQL: devices → Mosquitto → the ledger's subscriber
(aiomqtt) → payload and reading checks → ``INSERT … ON CONFLICT DO NOTHING`` + window rule, batched.

    .venv/bin/python bench/mqtt_ingest.py [--devices 20] [--messages 5000] [--per-message 1] [--rounds 3]

A real Mosquitto on its own loopback port (Debian's ``mosquitto``, password and ACL files written by
the ledger), a temporary database on the loopback PostgreSQL (``bkcore.testing.postgres``). The
devices publish at QoS 1 from child processes (paho, one connection each), so the ledger's event loop
does only the ledger's work. By default the ledger's subscriber is away while the devices publish
(its persistent session queues their messages on the broker) and the clock runs from its return until
every reading is in PostgreSQL (counted there): the ledger's rate, not the publishers'. ``--live``
times devices and ledger together from the devices' start. Prints one line a round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as paho
from sqlalchemy import func, select

from bk_ledger.iot.models import readings
from bk_ledger.service import create_service
from bk_ledger.settings import LedgerSettings
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.directory import DirSite, site_event
from bkcore.testing.mosquitto import mosquitto_broker
from bkcore.testing.postgres import temporary_database
from bkcore.testing.tokens import new_token_issuer


def publish_device(
    port: int, creds: dict[str, str], start_ts: float, messages: int, per_message: int
) -> None:
    """One device: ``messages`` QoS 1 publishes of ``per_message`` readings each, one second apart."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"bench-{creds['id']}")
    client.username_pw_set(creds["mqtt_username"], creds["device_token"])
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    info = None
    for m in range(messages):
        ts0 = start_ts + m * per_message
        if per_message == 1:
            payload = json.dumps({"ts": ts0, "value": 4.0 + (m % 7) * 0.1})
        else:
            payload = json.dumps([{"ts": ts0 + i, "value": 4.0 + (i % 7) * 0.1} for i in range(per_message)])
        info = client.publish(creds["mqtt_topic"], payload, qos=1)
    if info is not None:
        info.wait_for_publish(timeout=600)
    client.loop_stop()
    client.disconnect()


async def run(devices: int, messages: int, per_message: int, rounds: int, backlog: bool) -> None:
    now = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="bk-mqtt-bench-"))
    async with temporary_database("bk_mqtt_bench") as url:
        with mosquitto_broker(tmp / "mosquitto", debug_log=False) as broker:
            settings = LedgerSettings(
                data_dir=tmp,
                database_url=url,
                sweep_interval_s=3600,
                mqtt_url=broker.url,
                mqtt_password="bench-ledger-secret",
                mqtt_client_id="bk-ledger-bench",
                mqtt_broker_auth="mosquitto-files",
                mqtt_password_file=broker.password_file,
                mqtt_acl_file=broker.acl_file,
                mqtt_broker_pid_file=broker.pid_file,
            )
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
                async with svc.db.session() as s:
                    await svc.directory.apply(s, site_event("t", DirSite("s1", "site", "restaurant", "/t")))
                admin = {"Authorization": "Bearer " + tokens.issue(Principal("a", "t", Role.PLATFORM_ADMIN))}
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=svc.app), base_url="http://b"
                ) as c:
                    creds = []
                    for i in range(devices):
                        r = await c.post(
                            "/v1/iot/sensors",
                            headers=admin,
                            json={"site_id": "s1", "name": f"f{i}", "kind": "fridge"},
                        )
                        creds.append(r.json())
                assert svc.mqtt is not None
                while not svc.mqtt.connected:  # noqa: ASYNC110 (the subscriber's flag)
                    await asyncio.sleep(0.05)
                per_round = devices * messages * per_message
                for n in range(rounds):
                    # Each round's readings are new: an earlier stretch of the last six days.
                    start_ts = now.timestamp() - 6 * 86400 + n * messages * per_message
                    before, received0 = await _count(svc), svc.mqtt.received
                    if backlog:  # the ledger away; its persistent session queues the devices' messages
                        await svc.mqtt.stop()
                    t0 = time.perf_counter()
                    procs = [
                        mp.Process(
                            target=publish_device, args=(broker.port, cr, start_ts, messages, per_message)
                        )
                        for cr in creds
                    ]
                    for p in procs:
                        p.start()
                    if backlog:
                        for p in procs:
                            p.join()
                        t0 = time.perf_counter()
                        svc.mqtt.start()
                    received_at = None
                    while await _count(svc) < before + per_round:
                        if received_at is None and svc.mqtt.received >= received0 + devices * messages:
                            received_at = time.perf_counter() - t0
                        await asyncio.sleep(0.05)
                    dt = time.perf_counter() - t0
                    for p in procs:
                        p.join()
                    how = "backlog drained" if backlog else "devices publishing meanwhile"
                    print(
                        f"mqtt ingest round {n + 1}: {per_round} readings in {dt:.2f}s = "
                        f"{per_round / dt:,.0f} readings/s ({devices} devices, {per_message} reading(s) "
                        f"per message, QoS 1, {how}, PostgreSQL; every message received after "
                        f"{received_at or dt:.2f}s; load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
            finally:
                await svc.stop()


async def _count(svc) -> int:  # type: ignore[no-untyped-def]
    async with svc.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(readings))).scalar_one())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--messages", type=int, default=5000, help="messages per device per round")
    ap.add_argument("--per-message", type=int, default=1, help="readings per message (a device's buffer)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--live",
        action="store_true",
        help="devices publish while the ledger ingests (default: the ledger drains what they queued "
        "while it was away, so the figure is the ledger's alone, not the publishers' on the same cores)",
    )
    a = ap.parse_args()
    asyncio.run(run(a.devices, a.messages, a.per_message, a.rounds, not a.live))


if __name__ == "__main__":
    main()
