"""IoT data functions: registry, token check, batched ingestion, window evaluation, history.

``ingest`` is the one path from checked readings to stored rows and alarms: the HTTP route and the
MQTT subscriber both call it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common import alerts
from bk_ledger.common.columns import as_utc, new_id
from bk_ledger.common.errors import field_error
from bk_ledger.common.findings import Finding
from bk_ledger.iot import rules
from bk_ledger.iot.broker import mosquitto_hash
from bk_ledger.iot.models import DEFAULTS, SensorIn, SensorPatch, dead_letters, readings, sensors
from bk_ledger.sites.models import SiteInfo
from bkcore.auth import Principal
from bkcore.auth_http import scope_to_principal

#: A sensor as staff may read it: everything but its device token's hashes.
PUBLIC_COLUMNS = [c for c in sensors.c if c.name not in ("token_hash", "broker_hash")]


def _scoped_sensors(principal: Principal) -> Any:
    return scope_to_principal(
        select(*PUBLIC_COLUMNS),
        principal,
        tenant_col=sensors.c.tenant_id,
        org_path_col=sensors.c.org_path,
        site_id_col=sensors.c.site_id,
    )


async def visible_sensor(session: AsyncSession, principal: Principal, sensor_id: str) -> Any:
    """The sensor (staff columns) if the caller may see it; 404 otherwise."""
    row = (await session.execute(_scoped_sensors(principal).where(sensors.c.id == sensor_id))).first()
    if row is None:
        raise HTTPException(404, detail="sensor not found")
    return row


async def visible_sensors(
    session: AsyncSession, principal: Principal, *, site_id: str | None
) -> list[dict[str, Any]]:
    """The sensors in the caller's scope (staff columns), of one site when named, by id."""
    stmt = _scoped_sensors(principal)
    if site_id:
        stmt = stmt.where(sensors.c.site_id == site_id)
    return [dict(x._mapping) for x in await session.execute(stmt.order_by(sensors.c.id))]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ms(when: datetime) -> int:
    return int(as_utc(when).timestamp() * 1000)


async def register(
    session: AsyncSession, *, site: SiteInfo, body: SensorIn, by: str, now: datetime
) -> tuple[str, str]:
    """Returns (sensor id, device token). Only the token's hashes are kept."""
    sid, token = new_id(), secrets.token_urlsafe(32)
    await session.execute(
        sensors.insert().values(
            id=sid,
            tenant_id=site.tenant_id,
            site_id=site.site_id,
            org_path=site.org_path,
            name=body.name,
            kind=body.kind.value,
            unit=DEFAULTS[body.kind][0],
            min_value=body.min_value,
            max_value=body.max_value,
            window_s=body.window_s,
            silence_s=body.silence_s,
            **_credentials(token),
            last_seen_ms=None,
            active=True,
            created_at=now,
            created_by=by,
        )
    )
    return sid, token


def _credentials(token: str) -> dict[str, str]:
    """What is kept of a device token: its hash for the HTTP route and for the MQTT broker."""
    return {"token_hash": hash_token(token), "broker_hash": mosquitto_hash(token)}


async def get(session: AsyncSession, *, sensor_id: str) -> Any:
    return (await session.execute(select(sensors).where(sensors.c.id == sensor_id))).first()


async def update(session: AsyncSession, *, sensor: Any, body: SensorPatch) -> None:
    """Apply the fields sent; limits are checked against what the sensor keeps for the others."""
    values = body.model_dump(exclude_unset=True)
    low = values.get("min_value", sensor.min_value)
    high = values.get("max_value", sensor.max_value)
    if low is not None and high is not None and low >= high:
        raise field_error(("body", "max_value"), "must be greater than min_value")
    if values:
        await session.execute(sensors.update().where(sensors.c.id == sensor.id).values(**values))


async def rotate(session: AsyncSession, *, sensor_id: str) -> str:
    """New device credentials; the old token stops working at once. Returns the token (shown once)."""
    token = secrets.token_urlsafe(32)
    await session.execute(sensors.update().where(sensors.c.id == sensor_id).values(**_credentials(token)))
    return token


async def authenticate(session: AsyncSession, sensor_id: str, token: str | None) -> Any:
    """The sensor row if the token is its own; None otherwise (same answer for unknown sensors)."""
    row = (
        await session.execute(select(sensors).where(sensors.c.id == sensor_id, sensors.c.active.is_(True)))
    ).first()
    given = hash_token(token or "")
    expected = row.token_hash if row else hash_token(secrets.token_hex(16))
    return row if hmac.compare_digest(given, expected) and row is not None and token else None


def _insert_new(session: AsyncSession, sensor: Any, batch: dict[int, float]) -> tuple[Any, Any]:
    """(statement, parameters) inserting the batch, skipping stored keys, returning the new ones.

    PostgreSQL: one ``INSERT … SELECT FROM unnest(ts[], value[])`` — two array parameters however big
    the batch, instead of four parameters a row for the driver and SQLAlchemy to bind one by one.
    """
    if session.bind.dialect.name == "postgresql":
        rows = (
            sa.func.unnest(
                sa.cast(
                    sa.bindparam("ts", type_=postgresql.ARRAY(sa.BigInteger)), postgresql.ARRAY(sa.BigInteger)
                ),
                sa.cast(sa.bindparam("values", type_=postgresql.ARRAY(sa.Float)), postgresql.ARRAY(sa.Float)),
            )
            .table_valued("ts_ms", "value")
            .render_derived(name="batch")
        )
        pick = select(
            sa.literal(sensor.id, sa.String),
            rows.c.ts_ms,
            sa.literal(sensor.tenant_id, sa.String),
            rows.c.value,
        )
        stmt = postgresql.insert(readings).from_select(["sensor_id", "ts_ms", "tenant_id", "value"], pick)
        params: Any = {"ts": list(batch), "values": list(batch.values())}
    else:
        stmt = sqlite.insert(readings)
        params = [
            {"sensor_id": sensor.id, "ts_ms": ts, "tenant_id": sensor.tenant_id, "value": v}
            for ts, v in batch.items()
        ]
    return stmt.on_conflict_do_nothing().returning(readings.c.ts_ms), params


async def store(session: AsyncSession, sensor: Any, batch: dict[int, float]) -> int:
    """Insert readings; ones already stored (a device resending) are skipped by the primary key.

    Returns how many were new. Out-of-order readings are stored at their own time; ``last_seen_ms``
    (what the silence rule judges) only moves forward.
    """
    stmt, params = _insert_new(session, sensor, batch)
    stored = await session.execute(stmt, params)
    new = len(stored.all())
    newest = max(batch)
    if sensor.last_seen_ms is None or newest > sensor.last_seen_ms:
        await session.execute(sensors.update().where(sensors.c.id == sensor.id).values(last_seen_ms=newest))
    return new


async def ingest(
    session: AsyncSession, sensor: Any, batch: dict[int, float], now: datetime
) -> tuple[int, int]:
    """Store checked readings and apply the window and silence rules: (new readings, alerts written)."""
    new = await store(session, sensor, batch)
    newest = max(batch)
    findings = await evaluate(session, sensor, newest, batch[newest])
    return new, await alerts.emit(session, sensor.tenant_id, findings, now)


async def prune_dead_letters(session: AsyncSession, *, before: datetime) -> int:
    """Delete dead letters received before ``before`` (retention); returns how many."""
    done = await session.execute(dead_letters.delete().where(dead_letters.c.received_at < before))
    return int(done.rowcount or 0)


async def dead_letter(session: AsyncSession, letters: list[dict[str, Any]]) -> None:
    """Keep messages that could not be used (``iot_dead_letters``), for the tenant to look at."""
    if letters:
        await session.execute(dead_letters.insert(), letters)


async def evaluate(session: AsyncSession, sensor: Any, newest_ms: int, newest_value: float) -> list[Finding]:
    """Window rule over what is stored (so out-of-order readings count), plus silence cleared."""
    latest_ms = max(newest_ms, sensor.last_seen_ms or 0)
    out = [
        rules.silence_finding(
            site_id=sensor.site_id,
            sensor_id=sensor.id,
            name=sensor.name,
            last_seen_ms=latest_ms,
            registered_ms=latest_ms,
            now_ms=latest_ms,
            silence_s=sensor.silence_s,
        )
    ]
    if sensor.min_value is None and sensor.max_value is None:
        return out
    if newest_ms >= (sensor.last_seen_ms or 0) and not rules.out_of_range(
        newest_value, sensor.min_value, sensor.max_value
    ):
        # The newest reading is in range, so no streak is running: skip reading the window (hot path).
        out.append(
            rules.threshold_finding(
                site_id=sensor.site_id,
                sensor_id=sensor.id,
                name=sensor.name,
                unit=sensor.unit,
                latest=(newest_ms, newest_value),
                start_ms=None,
                window_s=sensor.window_s,
                low=sensor.min_value,
                high=sensor.max_value,
            )
        )
        return out
    # Twice the window back: enough to find where a streak that fills the window started.
    rows = (
        await session.execute(
            select(readings.c.ts_ms, readings.c.value)
            .where(
                readings.c.sensor_id == sensor.id,
                readings.c.ts_ms >= latest_ms - 2 * sensor.window_s * 1000,
                readings.c.ts_ms <= latest_ms,
            )
            .order_by(readings.c.ts_ms)
        )
    ).all()
    series = [(r.ts_ms, r.value) for r in rows]
    if not series:
        return out
    start = rules.excursion_start(series, sensor.min_value, sensor.max_value)
    out.append(
        rules.threshold_finding(
            site_id=sensor.site_id,
            sensor_id=sensor.id,
            name=sensor.name,
            unit=sensor.unit,
            latest=series[-1],
            start_ms=start,
            window_s=sensor.window_s,
            low=sensor.min_value,
            high=sensor.max_value,
        )
    )
    return out


async def sweep_site(session: AsyncSession, site: SiteInfo, now: datetime) -> list[Finding]:
    rows = await session.execute(
        select(sensors).where(
            sensors.c.tenant_id == site.tenant_id,
            sensors.c.site_id == site.site_id,
            sensors.c.active.is_(True),
        )
    )
    return [
        rules.silence_finding(
            site_id=s.site_id,
            sensor_id=s.id,
            name=s.name,
            last_seen_ms=s.last_seen_ms,
            registered_ms=ms(s.created_at),
            now_ms=ms(now),
            silence_s=s.silence_s,
        )
        for s in rows
    ]


async def history(
    session: AsyncSession, *, sensor_id: str, start_ms: int, end_ms: int, bucket_ms: int
) -> list[dict[str, Any]]:
    """min / max / avg / count per bucket; the bucket is the ms timestamp it starts at."""
    r = readings.c
    bucket = (r.ts_ms - (r.ts_ms % bucket_ms)).label("bucket")
    stmt = (
        select(bucket, func.min(r.value), func.max(r.value), func.avg(r.value), func.count())
        .where(r.sensor_id == sensor_id, r.ts_ms >= start_ms, r.ts_ms < end_ms)
        .group_by(bucket)
        .order_by(bucket)
    )
    return [
        {"t": int(b), "min": lo, "max": hi, "avg": round(float(avg), 3), "n": n}
        for b, lo, hi, avg, n in await session.execute(stmt)
    ]
