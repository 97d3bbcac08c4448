"""MQTT messages → readings, alarms and dead letters, in one transaction per received batch.

Each message is judged on its own: a bad topic, a malformed payload, an unknown or deactivated sensor,
a topic that does not match the sensor's tenant and site, or readings that fail ``rules.parse_reading``
are dead-lettered (``iot_dead_letters``, device id and the payload truncated) and counted, and the rest
of the batch goes on. Good readings go through ``service.ingest``, the same path as the HTTP route.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.iot import payloads, rules, service
from bk_ledger.iot.models import sensors


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes


@dataclass
class Outcome:
    stored: int = 0  # readings new to the database
    duplicates: int = 0  # readings already stored (a device resending)
    alerts: int = 0  # ledger.alerts.v1 events written
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tenant, reason) → messages


async def ingest_messages(
    session: AsyncSession,
    messages: list[Received],
    now: datetime,
    *,
    max_readings: int,
    payload_chars: int,
) -> Outcome:
    out = Outcome()
    letters: list[dict[str, Any]] = []

    def reject(m: Received, reason: str, detail: str, device: payloads.DeviceTopic | None) -> None:
        tenant = device.tenant_id if device else None
        letters.append(
            {
                "received_at": now,
                "tenant_id": tenant,
                "sensor_id": device.sensor_id if device else None,
                "topic": m.topic[:255],
                "reason": reason,
                "detail": detail[:255],
                "payload": printable(m.payload, payload_chars),
            }
        )
        out.rejected[(tenant or "", reason)] += 1

    by_sensor: dict[str, list[tuple[Received, payloads.DeviceTopic, list[object]]]] = defaultdict(list)
    for m in messages:
        device = payloads.parse_topic(m.topic)
        if isinstance(device, str):
            reject(m, "bad_topic", device, None)
            continue
        items = payloads.decode(m.payload, max_readings)
        if isinstance(items, str):
            reject(m, "malformed", items, device)
            continue
        by_sensor[device.sensor_id].append((m, device, items))

    known = {r.id: r for r in await session.execute(select(sensors).where(sensors.c.id.in_(list(by_sensor))))}
    now_ms = service.ms(now)
    for sensor_id, entries in by_sensor.items():
        row = known.get(sensor_id)
        batch: dict[int, float] = {}
        valid = 0
        for m, device, items in entries:
            if row is None:
                reject(m, "unknown_sensor", "no such sensor", device)
                continue
            if not row.active:
                reject(m, "inactive_sensor", "the sensor is deactivated", device)
                continue
            if (row.tenant_id, row.site_id) != (device.tenant_id, device.site_id):
                reject(m, "topic_mismatch", "tenant or site in the topic is not the sensor's", device)
                continue
            errors = []
            for item in items:
                parsed = rules.parse_reading(item, now_ms)
                if isinstance(parsed, str):
                    errors.append(parsed)
                else:
                    batch[parsed[0]] = parsed[1]
                    valid += 1
            if errors:  # the good readings of the same message are kept, as on the HTTP route
                reject(m, "invalid_reading", f"{len(errors)} of {len(items)} readings: {errors[0]}", device)
        if batch:
            new, written = await service.ingest(session, row, batch, now)
            out.stored += new
            out.duplicates += valid - new
            out.alerts += written
    await service.dead_letter(session, letters)
    return out


def printable(payload: bytes, chars: int) -> str:
    # PostgreSQL text cannot hold NUL; keep the rest readable, bytes that are not UTF-8 escaped.
    return payload[: chars * 4].decode("utf-8", "backslashreplace")[:chars].replace("\x00", "\\x00")
