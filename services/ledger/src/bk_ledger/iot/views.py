"""IoT routes: registry (staff JWT) and ingestion (per-device token, ``X-Device-Token``).

The device token is also the device's MQTT password (username: the sensor id); see ``subscriber``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.common.errors import field_error
from bk_ledger.iot import payloads, rules, service
from bk_ledger.iot.models import ReadingsIn, SensorIn, SensorPatch
from bk_ledger.sites.service import visible_site
from bkcore.auth import Principal, Role
from bkcore.inputs import Instant

log = logging.getLogger("bk_ledger.iot.views")
MANAGERS = (Role.PLATFORM_ADMIN, Role.SITE_MANAGER)
READERS = (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF)
MAX_BUCKETS = 10_000


def _credentials(tenant_id: str, site_id: str, sensor_id: str, token: str) -> dict[str, str]:
    """What a device is configured with; the token is shown this once and kept only hashed."""
    return {
        "id": sensor_id,
        "device_token": token,
        "mqtt_username": sensor_id,
        "mqtt_topic": payloads.topic_for(tenant_id, site_id, sensor_id),
    }


router = APIRouter(prefix="/v1/iot", tags=["iot 物联网"])


async def _changed(ctx: LedgerContext) -> None:
    if ctx.sensors_changed is None:
        return
    try:  # after the commit: the broker reads what is committed
        await ctx.sensors_changed()
    except Exception:  # the change is made; the periodic sync (mqtt_broker_sync_s) brings it over
        log.exception("broker credentials not synced now; the periodic sync retries")


@router.post("/sensors", status_code=201, summary="Register a sensor; the device token is returned once")
async def register(
    body: SensorIn, p: Principal = Depends(roles(*MANAGERS)), ctx: LedgerContext = Depends(get_ctx)
) -> dict[str, str]:
    async with ctx.db.session() as s:
        site = await visible_site(s, p, body.site_id)
        sid, token = await service.register(s, site=site, body=body, by=p.subject, now=ctx.now())
    await _changed(ctx)
    return _credentials(site.tenant_id, site.site_id, sid, token)


@router.patch("/sensors/{sensor_id}", summary="Edit a sensor, or deactivate it (active: false)")
async def edit(
    sensor_id: str,
    body: SensorPatch,
    p: Principal = Depends(roles(*MANAGERS)),
    ctx: LedgerContext = Depends(get_ctx),
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        sensor = await service.visible_sensor(s, p, sensor_id)
        await service.update(s, sensor=sensor, body=body)
        after = await service.visible_sensor(s, p, sensor_id)
    await _changed(ctx)
    return dict(after._mapping)


@router.post(
    "/sensors/{sensor_id}/credentials",
    status_code=201,
    summary="New device credentials (returned once); the old token stops working on HTTP and MQTT",
)
async def rotate(
    sensor_id: str, p: Principal = Depends(roles(*MANAGERS)), ctx: LedgerContext = Depends(get_ctx)
) -> dict[str, str]:
    async with ctx.db.session() as s:
        sensor = await service.visible_sensor(s, p, sensor_id)
        token = await service.rotate(s, sensor_id=sensor.id)
    await _changed(ctx)
    return _credentials(sensor.tenant_id, sensor.site_id, sensor.id, token)


@router.get("/sensors", summary="Sensors in the caller's scope")
async def list_sensors(
    site_id: str | None = None,
    p: Principal = Depends(roles(*READERS)),
    ctx: LedgerContext = Depends(get_ctx),
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        return await service.visible_sensors(s, p, site_id=site_id)


@router.post("/sensors/{sensor_id}/readings", summary="Ingest a batch of readings (device-authenticated)")
async def ingest(
    sensor_id: str,
    body: ReadingsIn,
    x_device_token: str | None = Header(None, description="the sensor's device token"),
    ctx: LedgerContext = Depends(get_ctx),
) -> dict[str, Any]:
    if len(body.readings) > ctx.settings.ingest_max_batch:
        raise field_error(("body", "readings"), f"at most {ctx.settings.ingest_max_batch} readings per batch")
    now = ctx.now()
    now_ms = service.ms(now)
    batch: dict[int, float] = {}
    rejected = []
    for i, item in enumerate(body.readings):
        parsed = rules.parse_reading(item, now_ms)
        if isinstance(parsed, str):
            rejected.append({"index": i, "error": parsed})
        else:
            batch[parsed[0]] = parsed[1]  # a repeated timestamp in one batch: the last one wins
    async with ctx.db.session() as s:
        sensor = await service.authenticate(s, sensor_id, x_device_token)
        if sensor is None:
            raise HTTPException(401, detail="unknown sensor or bad device token")
        written = 0
        if batch:
            _, written = await service.ingest(s, sensor, batch, now)
    if written:
        ctx.alerts_written()
    return {"accepted": len(batch), "rejected": rejected}


@router.get("/sensors/{sensor_id}/history", summary="Downsampled history: min/max/avg per bucket")
async def history(
    sensor_id: str,
    start: Instant,
    end: Instant,
    bucket_s: int = Query(300, ge=1, le=7 * 24 * 3600),
    p: Principal = Depends(roles(*READERS)),
    ctx: LedgerContext = Depends(get_ctx),
) -> dict[str, Any]:
    if start.tzinfo is None or end.tzinfo is None:
        raise field_error(("query", "start" if start.tzinfo is None else "end"), "needs a timezone offset")
    if end <= start:
        raise field_error(("query", "end"), "must be after start")
    start_ms, end_ms = service.ms(start), service.ms(end)
    if (end_ms - start_ms) // (bucket_s * 1000) > MAX_BUCKETS:
        raise field_error(("query", "bucket_s"), f"too small for this range (at most {MAX_BUCKETS} buckets)")
    async with ctx.db.session() as s:
        sensor = await service.visible_sensor(s, p, sensor_id)
        points = await service.history(
            s, sensor_id=sensor_id, start_ms=start_ms, end_ms=end_ms, bucket_ms=bucket_s * 1000
        )
    return {"sensor_id": sensor_id, "unit": sensor.unit, "bucket_s": bucket_s, "points": points}
