"""Sensor registry and readings. Readings are keyed (sensor, ms timestamp): a resend is a no-op."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from bk_ledger.common.errors import fields_invalid
from bk_ledger.db import metadata

sensors = Table(
    "sensors",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("site_id", String(64), nullable=False),
    Column("org_path", String(255), nullable=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("min_value", Float, nullable=True),
    Column("max_value", Float, nullable=True),
    Column("window_s", Integer, nullable=False),
    Column("silence_s", Integer, nullable=False),
    Column("token_hash", String(64), nullable=False),  # sha256 of the device token; the token is shown once
    # The same token as Mosquitto checks it (PBKDF2-SHA512, ``$7$``): the broker's password file is
    # rendered from this, so the token itself is never kept. None for sensors from before MQTT.
    Column("broker_hash", String(200), nullable=True),
    Column("last_seen_ms", BigInteger, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(100), nullable=False),
)

#: MQTT messages the ledger could not use (死信), with the device the topic names and the raw payload
dead_letters = Table(
    "iot_dead_letters",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("tenant_id", String(64), nullable=True),
    Column("sensor_id", String(64), nullable=True),
    Column("topic", String(255), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", String(255), nullable=False),
    Column("payload", Text, nullable=False),  # truncated (``mqtt_dead_letter_payload_chars``)
    Index("ix_iot_dead_letters_tenant_received", "tenant_id", "received_at"),
)

readings = Table(
    "sensor_readings",
    metadata,
    Column("sensor_id", String(32), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),  # epoch ms: cheap to bucket the same way on both dialects
    Column("tenant_id", String(64), nullable=False),
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("sensor_id", "ts_ms", name="pk_sensor_readings"),
)


class SensorKind(StrEnum):
    FRIDGE = "fridge"
    FREEZER = "freezer"
    SAMPLE_FRIDGE = "sample_fridge"
    HUMIDITY = "humidity"
    DISINFECTION_CABINET = "disinfection_cabinet"  # temperature inside the cabinet while it runs
    UV_LAMP = "uv_lamp"  # 1 = on, 0 = off


#: unit and default safe range per kind (the tenant may override per sensor)
DEFAULTS: dict[SensorKind, tuple[str, float | None, float | None]] = {
    SensorKind.FRIDGE: ("°C", 0.0, 8.0),
    SensorKind.FREEZER: ("°C", None, -12.0),
    SensorKind.SAMPLE_FRIDGE: ("°C", 0.0, 8.0),
    SensorKind.HUMIDITY: ("%RH", None, 75.0),
    SensorKind.DISINFECTION_CABINET: ("°C", None, None),
    SensorKind.UV_LAMP: ("on", None, None),
}


class SensorIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    name: str = Field(..., min_length=1, max_length=100, description="e.g. 冷藏冰箱 1")
    kind: SensorKind
    min_value: float | None = Field(None, ge=-100, le=300)
    max_value: float | None = Field(None, ge=-100, le=300)
    window_s: int = Field(1800, ge=60, le=24 * 3600, description="how long out of range before alarming")
    silence_s: int = Field(900, ge=60, le=7 * 24 * 3600, description="no reading this long → alarm")

    @model_validator(mode="after")
    def _range(self) -> SensorIn:
        if self.min_value is None and self.max_value is None:
            _, self.min_value, self.max_value = DEFAULTS[self.kind]
        if self.min_value is not None and self.max_value is not None and self.min_value >= self.max_value:
            raise fields_invalid("SensorIn", [("max_value", "must be greater than min_value")])
        return self


class ReadingsIn(BaseModel):
    """The envelope is strict (422); single readings are checked one by one and reported."""

    readings: list[object] = Field(..., min_length=1)


class SensorPatch(BaseModel):
    """Edit a sensor (only the fields sent change); ``active: false`` deactivates it and its credentials."""

    name: str | None = Field(None, min_length=1, max_length=100)
    min_value: float | None = Field(None, ge=-100, le=300)
    max_value: float | None = Field(None, ge=-100, le=300)
    window_s: int | None = Field(None, ge=60, le=24 * 3600)
    silence_s: int | None = Field(None, ge=60, le=7 * 24 * 3600)
    active: bool | None = None

    model_config = {"extra": "forbid"}

    @field_validator("name", "window_s", "silence_s", "active")
    @classmethod
    def _kept_not_cleared(cls, value: object) -> object:
        # Runs only on a field that was sent: ``"name": null`` was written as NULL into a NOT NULL
        # column (a 500; schemathesis). Only the limits may be cleared; leave a field out to keep it.
        if value is None:
            raise ValueError("may not be null: leave the field out to keep its value")
        return value
