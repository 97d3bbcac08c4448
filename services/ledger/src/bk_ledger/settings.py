"""The ledger's settings: the shared core tree plus the ledger's own knobs (env prefix ``BK_``)."""

from __future__ import annotations

from pydantic import Field

from bkcore.settings import CoreSettings


class LedgerSettings(CoreSettings):
    service_name: str = Field("ledger", description="name used in logs, metrics and events")
    db_schema: str = Field("ledger", description="PostgreSQL schema the ledger owns")
    http_port: int = Field(8004, ge=0, le=65535, description="port of the ledger's HTTP API")
    default_timezone: str = Field("Asia/Shanghai", description="timezone of sites seeded without one")
    sweep_interval_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="how often time-based rules (missing checks, expiry, sensor silence) are evaluated",
    )
    completeness_publish_s: float = Field(
        600.0,
        gt=0,
        le=86400,
        description="how often recent days' ledger completeness is sent (ledger.completeness.v1)",
    )
    max_photo_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024, description="largest accepted photo upload, bytes"
    )
    max_photos_per_record: int = Field(10, ge=1, le=50, description="photos per field of one record")
    ingest_max_batch: int = Field(5000, ge=1, le=100_000, description="most readings in one IoT batch")
    outbox_poll_s: float = Field(1.0, gt=0, le=60, description="outbox relay poll interval")
