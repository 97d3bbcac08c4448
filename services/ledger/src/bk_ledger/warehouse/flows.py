"""One day of one tenant's ledgers and sensor readings, written to the warehouse (``bkcore.warehouse``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.records import row_dict
from bk_ledger.iot import service as iot
from bk_ledger.iot.models import readings, sensors
from bk_ledger.sites.models import sites
from bk_ledger.warehouse.tables import LEDGERS, PRODUCER, SENSOR_READINGS, SENSOR_READINGS_HOURLY, TABLES
from bkcore.warehouse import Fetch, Manifest, TableSpec, export_day, pseudonymiser_for

HOUR_MS = 3_600_000
Rows = Sequence[Mapping[str, Any]]


def _ledger(ctx: LedgerContext, name: str, tenant_id: str) -> Fetch:
    t = LEDGERS[name].table

    async def fetch(start: datetime, end: datetime) -> AsyncIterator[Rows]:
        stmt = select(t).where(t.c.tenant_id == tenant_id, t.c.created_at >= start, t.c.created_at < end)
        async with ctx.db.session() as s:
            yield [row_dict(r) for r in await s.execute(stmt)]

    return fetch


async def _tenant_sensors(ctx: LedgerContext, tenant_id: str) -> list[Any]:
    stmt = select(sensors.c.id, sensors.c.site_id, sensors.c.kind, sensors.c.unit).where(
        sensors.c.tenant_id == tenant_id
    )
    async with ctx.db.session() as s:
        # One sensor after another in the file's key order (Python's, whatever the database's collation).
        return sorted(await s.execute(stmt), key=lambda row: row.id)


def _raw_readings(ctx: LedgerContext, tenant_id: str) -> Fetch:
    async def fetch(start: datetime, end: datetime) -> AsyncIterator[Rows]:
        r = readings.c
        for sensor in await _tenant_sensors(ctx, tenant_id):
            stmt = select(r.ts_ms, r.value).where(
                r.sensor_id == sensor.id, r.ts_ms >= iot.ms(start), r.ts_ms < iot.ms(end)
            )
            async with ctx.db.session() as s:
                rows = list(await s.execute(stmt))
            yield [
                {
                    "tenant_id": tenant_id,
                    "site_id": sensor.site_id,
                    "sensor_id": sensor.id,
                    "kind": sensor.kind,
                    "unit": sensor.unit,
                    "ts": datetime.fromtimestamp(ts / 1000, UTC),
                    "value": value,
                }
                for ts, value in rows
            ]

    return fetch


def _hourly_readings(ctx: LedgerContext, tenant_id: str) -> Fetch:
    """The sensor history's own buckets (``iot.service.history``), an hour wide."""

    async def fetch(start: datetime, end: datetime) -> AsyncIterator[Rows]:
        for sensor in await _tenant_sensors(ctx, tenant_id):
            async with ctx.db.session() as s:
                points = await iot.history(
                    s, sensor_id=sensor.id, start_ms=iot.ms(start), end_ms=iot.ms(end), bucket_ms=HOUR_MS
                )
            yield [
                {
                    "tenant_id": tenant_id,
                    "site_id": sensor.site_id,
                    "sensor_id": sensor.id,
                    "kind": sensor.kind,
                    "unit": sensor.unit,
                    "hour": datetime.fromtimestamp(p["t"] / 1000, UTC),
                    "n": p["n"],
                    "min": p["min"],
                    "mean": p["avg"],
                    "max": p["max"],
                }
                for p in points
            ]

    return fetch


def table_sources(ctx: LedgerContext, tenant_id: str, names: Sequence[str]) -> list[tuple[TableSpec, Fetch]]:
    """The chosen tables (all when ``names`` is empty) with where each one's rows come from."""
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; the ledger exports {list(TABLES)}")
    out: list[tuple[TableSpec, Fetch]] = []
    for name in names or TABLES:
        if name in LEDGERS:
            out.append((LEDGERS[name].spec, _ledger(ctx, name, tenant_id)))
        elif name == SENSOR_READINGS.name:
            out.append((SENSOR_READINGS, _raw_readings(ctx, tenant_id)))
        else:
            out.append((SENSOR_READINGS_HOURLY, _hourly_readings(ctx, tenant_id)))
    return out


async def export_tenant_day(
    ctx: LedgerContext, tenant_id: str, day: date, tables: Sequence[str] = ()
) -> Manifest:
    return await export_day(
        ctx.store,
        producer=PRODUCER,
        tenant_id=tenant_id,
        day=day,
        tables=table_sources(ctx, tenant_id, tables),
        pseudo=pseudonymiser_for(ctx.settings, tenant_id),
    )


async def tenant_ids(ctx: LedgerContext) -> list[str]:
    """Tenants the ledger keeps sites for (its projection of the directory)."""
    async with ctx.db.session() as s:
        return sorted(await s.scalars(select(sites.c.tenant_id).distinct()))
