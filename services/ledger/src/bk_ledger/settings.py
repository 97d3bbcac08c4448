"""The ledger's settings: the shared core tree plus the ledger's own knobs (env prefix ``BK_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

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
    # --- IoT over MQTT (docs/operations.md, "IoT sensors over MQTT") -------------------------------
    mqtt_url: str = Field(
        "",
        description="the tenant's MQTT broker, mqtt://host:port (mqtts:// for TLS); empty = no MQTT ingest",
    )
    mqtt_username: str = Field("bk-ledger", description="the ledger's own subscriber account on the broker")
    mqtt_password: SecretStr = Field(SecretStr(""), description="its password (env BK_MQTT_PASSWORD)")
    mqtt_topic: str = Field(
        "$share/bk-ledger/bk/+/+/+/reading",
        description="subscription; a shared subscription spreads devices over the ledger's replicas",
    )
    mqtt_client_id: str = Field("", description="MQTT client id; empty = bk-ledger-<hostname> (kept per pod)")
    mqtt_persistent_session: bool = Field(
        True,
        description="keep the subscriber's session on the broker across restarts (QoS 1 readings wait "
        "for it); needs a stable client id, so false for pods with changing names",
    )
    mqtt_batch_max: int = Field(5000, ge=1, le=100_000, description="most messages stored in one transaction")
    mqtt_flush_s: float = Field(
        0.05, gt=0, le=10, description="longest a received message waits to be stored"
    )
    mqtt_reconnect_max_s: float = Field(30.0, gt=0, le=600, description="longest backoff between reconnects")
    mqtt_broker_auth: Literal["none", "mosquitto-files"] = Field(
        "none",
        description="device credentials: none (the broker is managed elsewhere, e.g. EMQX) or "
        "mosquitto-files (the ledger writes Mosquitto's password_file and acl_file and sends it SIGHUP)",
    )
    mqtt_password_file: Path = Field(
        Path("./var/mqtt/passwd"), description="Mosquitto password_file to write"
    )
    mqtt_acl_file: Path = Field(Path("./var/mqtt/acl"), description="Mosquitto acl_file to write")
    mqtt_broker_pid_file: Path = Field(
        Path("./var/mqtt/mosquitto.pid"), description="Mosquitto's pid_file (SIGHUP reloads the files)"
    )
    mqtt_broker_sync_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="how often the broker files are re-rendered (changes by other replicas)",
    )
    mqtt_dead_letter_retention_days: float = Field(
        30.0,
        gt=0,
        le=3650,
        description="dead-lettered MQTT messages older than this are deleted by the sweep",
    )
    mqtt_dead_letter_payload_chars: int = Field(
        1024, ge=0, le=65536, description="how much of a bad payload the dead-letter table keeps"
    )
