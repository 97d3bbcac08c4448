"""IoT over MQTT on a real Mosquitto (its own loopback port, password and ACL files the ledger writes).

1,000 readings from 20 simulated devices — JSON, JSON lists and the compact form, one device out of
order — with a threshold breach, a short excursion that must not alarm, a silent device, a duplicate
and a malformed message: exactly the alarms expected, every reading stored once, the bad message
dead-lettered with its device id, and the subscription still alive. Then the broker's ACL refuses a
device publishing on another's topic, a deactivated device cannot log in, and a re-keyed device's old
token stops working while the new one works.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from bk_ledger.iot.models import dead_letters, readings, sensors
from bkcore.testing.directory import eventually
from bkcore.testing.mosquitto import Mosquitto, mosquitto_broker
from bkcore.testing.postgres import temporary_database

DEVICES = 20
PER_DEVICE = 50  # 20 × 50 = 1,000 readings
BREACH, SHORT, DUPLICATE, OUT_OF_ORDER, MALFORMED, SILENT = 0, 1, 2, 3, 4, 19
SITE = "lakeside-primary"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    with mosquitto_broker(tmp_path / "mosquitto") as b:
        yield b


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: Any) -> AsyncIterator[str]:
    """Both dialects: PostgreSQL takes another insert path (``unnest``) and holds the dead letters."""
    if request.param == "sqlite":
        yield ""
        return
    async with temporary_database("bk_mqtt_test") as url:
        yield url


@pytest.fixture
async def hm(tmp_path: Path, broker: Mosquitto, database: str, harness_factory: Any) -> AsyncIterator[Any]:
    async for h in harness_factory(
        tmp_path,
        database_url=database,
        mqtt_url=broker.url,
        mqtt_password="ledger-subscriber-secret",
        mqtt_client_id="bk-ledger-test",
        mqtt_broker_auth="mosquitto-files",
        mqtt_password_file=broker.password_file,
        mqtt_acl_file=broker.acl_file,
        mqtt_broker_pid_file=broker.pid_file,
        mqtt_reconnect_max_s=1.0,
    ):
        await eventually(_connected(h), what=f"the ledger subscribed\n{broker.log_tail()}")
        yield h


def _connected(h: Any) -> Any:
    async def check() -> bool:
        return bool(h.service.mqtt.connected and (await h.service.readiness())["mqtt"])

    return check


async def register(h: Any, n: int) -> dict[str, str]:
    r = await h.client.post(
        "/v1/iot/sensors",
        headers=h.auth(),
        json={"site_id": SITE, "name": f"冷藏冰箱 {n}", "kind": "fridge", "window_s": 600, "silence_s": 900},
    )
    assert r.status_code == 201, r.text
    return r.json()


def device(broker: Mosquitto, creds: dict[str, str], token: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=creds["mqtt_username"],
        password=token or creds["device_token"],
        identifier=f"dev-{creds['id']}",
    )


def rejected(tenant: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value("bk_ledger_mqtt_rejected_total", {"tenant": tenant, "reason": reason})
        or 0.0
    )


async def stored(h: Any, sensor_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(readings)
    if sensor_id:
        stmt = stmt.where(readings.c.sensor_id == sensor_id)
    async with h.service.db.session() as s:
        return int((await s.execute(stmt)).scalar_one())


async def dead_lettered(h: Any) -> int:
    async with h.service.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(dead_letters))).scalar_one())


def messages_for(n: int, base: float) -> list[bytes]:
    """Device n's 50 readings as it sends them: one per minute (the silent one crowds them into its first
    ten minutes), in the payload form the device speaks."""
    step = 12 if n == SILENT else 60
    values = [4.0 + (i % 5) * 0.3 for i in range(PER_DEVICE)]
    if n == BREACH:
        values = [4.0] * 20 + [12.5] * 30  # warm for 30 min against a 10 min window
    if n == SHORT:
        values = [4.0] * 30 + [9.5] * 5 + [4.0] * 15  # 5 min warm: under the window, no alarm
    points = [(base + i * step, v) for i, v in enumerate(values)]
    if n == OUT_OF_ORDER:  # compact form, ten to a message, newest first
        points.reverse()
        return [";".join(f"{ts:.0f},{v}" for ts, v in points[i : i + 10]).encode() for i in range(0, 50, 10)]
    if n % 3 == 1:  # JSON lists of five
        return [
            json.dumps([{"ts": ts, "value": v} for ts, v in points[i : i + 5]]).encode()
            for i in range(0, 50, 5)
        ]
    return [json.dumps({"ts": ts, "value": v}).encode() for ts, v in points]


async def test_thousand_readings_twenty_devices(hm: Any, broker: Mosquitto) -> None:
    h = hm
    creds = [await register(h, n) for n in range(DEVICES)]
    ids = [c["id"] for c in creds]
    assert creds[0]["mqtt_topic"] == f"bk/minghu/{SITE}/{ids[0]}/reading"
    h.clock.advance(timedelta(minutes=5))
    base = h.clock.now().timestamp()
    h.clock.advance(timedelta(minutes=50))  # the devices' last readings are a minute old
    malformed_before = rejected("minghu", "malformed")

    async def run_device(n: int) -> int:
        sent = 0
        async with device(broker, creds[n]) as c:
            for payload in messages_for(n, base):
                await c.publish(creds[n]["mqtt_topic"], payload, qos=1)
                sent += 1
            if n == DUPLICATE:  # a resend of a reading already sent
                await c.publish(creds[n]["mqtt_topic"], json.dumps({"ts": base, "value": 4.0}), qos=1)
                sent += 1
            if n == MALFORMED:
                await c.publish(creds[n]["mqtt_topic"], b'{"ts": 17882, "value": ', qos=1)
                sent += 1
        return sent

    sent = sum(await asyncio.gather(*(run_device(n) for n in range(DEVICES))))

    async def all_handled() -> bool:
        return h.service.mqtt.handled >= sent

    await eventually(all_handled, timeout_s=120, what=f"{sent} messages handled")
    assert await stored(h) == DEVICES * PER_DEVICE  # nothing lost, the duplicate stored once
    assert all([await stored(h, sid) == PER_DEVICE for sid in ids])
    async with h.service.db.session() as s:
        letters = (await s.execute(select(dead_letters))).all()
        last_seen = (
            await s.execute(select(sensors.c.last_seen_ms).where(sensors.c.id == ids[OUT_OF_ORDER]))
        ).scalar_one()
    assert last_seen == round((base + 49 * 60) * 1000)  # judged by the latest time, not the last message
    assert [(d.reason, d.sensor_id, d.tenant_id, d.payload) for d in letters] == [
        ("malformed", ids[MALFORMED], "minghu", '{"ts": 17882, "value": ')
    ]
    assert rejected("minghu", "malformed") == malformed_before + 1

    await h.service.sweep()
    await h.flush()
    iot = [d.event for d in h.alerts if d.event.ledger == "iot"]  # the sweep judges other ledgers too
    assert sorted((e.rule, e.subject_id, e.active) for e in iot) == sorted(
        [("sensor_out_of_range", ids[BREACH], True), ("sensor_silent", ids[SILENT], True)]
    )

    # The subscription outlived the bad message: the same device's next reading is stored.
    assert h.service.mqtt.connected and (await h.service.readiness())["mqtt"]
    async with device(broker, creds[MALFORMED]) as c:
        await c.publish(creds[MALFORMED]["mqtt_topic"], f"{h.clock.now().timestamp():.0f},4.1", qos=1)

    async def stored_after_bad() -> bool:
        return await stored(h, ids[MALFORMED]) == PER_DEVICE + 1

    await eventually(stored_after_bad, what="a reading after the malformed message")

    # Dead letters are kept for mqtt_dead_letter_retention_days (30), then the sweep deletes them.
    assert await dead_lettered(h) == 1
    h.clock.advance(timedelta(days=31))
    await h.service.sweep()
    assert await dead_lettered(h) == 0


async def test_broker_acl_deactivation_and_new_credentials(hm: Any, broker: Mosquitto) -> None:
    h = hm
    a, b, gone, rekeyed = [await register(h, n) for n in range(4)]
    now = h.clock.now().timestamp()
    handled = h.service.mqtt.handled

    # a publishes on b's topic: the broker's ACL refuses it (Mosquitto drops the message and may close
    # the connection). Then a publishes on its own topic: once that is stored, the forged one — handled
    # by the broker before it — would have reached the ledger too.
    with contextlib.suppress(aiomqtt.MqttError):
        async with device(broker, a) as c:
            await c.publish(b["mqtt_topic"], json.dumps({"ts": now, "value": 99.0}), qos=1)
    async with device(broker, a) as c:
        await c.publish(a["mqtt_topic"], json.dumps({"ts": now, "value": 4.0}), qos=1)

    async def a_stored() -> bool:
        return await stored(h, a["id"]) == 1

    await eventually(a_stored, what="a's own reading")
    assert await stored(h, b["id"]) == 0
    assert h.service.mqtt.handled == handled + 1  # the ledger never saw the forged message
    assert f"Denied PUBLISH from dev-{a['id']}" in broker.log_tail(200)
    async with h.service.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(dead_letters))).scalar_one() == 0

    # Deactivated: its credentials stop working on the broker (and on HTTP).
    async with device(broker, gone):
        pass  # it could log in before
    r = await h.client.patch(f"/v1/iot/sensors/{gone['id']}", headers=h.auth(), json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False and "token_hash" not in r.json()
    with pytest.raises(aiomqtt.MqttError):
        async with device(broker, gone):
            pass
    r = await h.client.post(
        f"/v1/iot/sensors/{gone['id']}/readings",
        headers={"X-Device-Token": gone["device_token"]},
        json={"readings": [{"ts": now, "value": 4}]},
    )
    assert r.status_code == 401

    # New credentials: the old token is refused, the new one logs in and its readings are stored.
    r = await h.client.post(f"/v1/iot/sensors/{rekeyed['id']}/credentials", headers=h.auth())
    assert r.status_code == 201, r.text
    fresh = r.json()
    assert fresh["device_token"] != rekeyed["device_token"] and fresh["mqtt_topic"] == rekeyed["mqtt_topic"]
    with pytest.raises(aiomqtt.MqttError):
        async with device(broker, rekeyed):
            pass
    async with device(broker, fresh) as c:
        await c.publish(fresh["mqtt_topic"], f"{now:.0f},5.5", qos=1)

    async def rekeyed_stored() -> bool:
        return await stored(h, rekeyed["id"]) == 1

    await eventually(rekeyed_stored, what="a reading with the new credentials")

    # Edits are checked: limits that cross are refused; another tenant's manager does not see the sensor.
    r = await h.client.patch(f"/v1/iot/sensors/{a['id']}", headers=h.auth(), json={"min_value": 9.0})
    assert r.status_code == 422
    r = await h.client.patch(f"/v1/iot/sensors/{a['id']}", headers=h.auth(tenant="other"), json={"name": "x"})
    assert r.status_code == 404


async def test_broker_outage_reconnects_logged_once(hm: Any, broker: Mosquitto, caplog: Any) -> None:
    h = hm
    creds = await register(h, 0)
    caplog.set_level(logging.WARNING, logger="bk_ledger.iot.mqtt")
    broker.stop()

    async def down() -> bool:
        return not h.service.mqtt.connected and not (await h.service.readiness())["mqtt"]

    await eventually(down, what="readiness reports the broker gone")
    await asyncio.sleep(3)  # several reconnect attempts (backoff 0.5 s, 1 s, then 1 s at most here)
    broker.start()
    await eventually(_connected(h), what=f"the ledger back on the broker\n{broker.log_tail()}")
    outage = [r for r in caplog.records if "MQTT broker unreachable" in r.getMessage()]
    assert len(outage) == 1  # once per outage, not once per attempt

    async with device(broker, creds) as c:
        await c.publish(creds["mqtt_topic"], f"{h.clock.now().timestamp():.0f},4.0", qos=1)

    async def arrived() -> bool:
        return await stored(h, creds["id"]) == 1

    await eventually(arrived, what="a reading after the outage")
