"""Settings: one validated tree per service, read from the environment (prefix ``BK_``).

An invalid or missing setting stops the service at start-up with a message that names the
environment variable, so an operator knows exactly what to fix.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bkcore.auth import check_hmac_key

ENV_PREFIX = "BK_"


class Mode(StrEnum):
    EMBEDDED = "embedded"      # one process, SQLite, local object store, in-process bus
    PRODUCTION = "production"  # PostgreSQL, Kafka, S3/MinIO, separate processes


class BusKind(StrEnum):
    INPROC = "inproc"
    KAFKA = "kafka"


class StoreKind(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class SettingsError(SystemExit):
    """Raised (and exits the process) when the environment does not make valid settings."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CoreSettings(BaseSettings):
    """Settings every service shares. Services subclass this and add their own fields."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_nested_delimiter="__")

    mode: Mode = Field(Mode.EMBEDDED, description="embedded (one process) or production")
    service_name: str = Field("bright-kitchen", description="name used in logs, metrics and events")
    data_dir: Path = Field(Path("./var"), description="where embedded mode keeps SQLite files and objects")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="log level")
    log_json: bool = Field(True, description="JSON logs (true) or plain text for a terminal (false)")
    gc_freeze: bool = Field(
        True, description="after start-up, move the start-up heap out of the garbage collector's way "
        "(gc.freeze): full collections stop pausing the process for 80-200 ms"
    )

    http_host: str = Field("127.0.0.1", description="address the HTTP API binds to")
    http_port: int = Field(8000, ge=0, le=65535, description="port of the HTTP API (0 = any free port)")
    public_base_url: str = Field("", description="external URL of this service, for signed links")

    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty = SQLite file under data_dir (embedded)"
    )
    db_schema: str = Field("", description="PostgreSQL schema of this service; empty = service default")

    bus: BusKind = Field(BusKind.INPROC, description="inproc (embedded) or kafka")
    kafka_bootstrap: str = Field("", description="Kafka bootstrap servers, host:port[,host:port]")
    kafka_client_id: str = Field("", description="Kafka client id; empty = service name")
    kafka_idempotence: bool = Field(
        True, description="idempotent producer (a retried send is written once); false only for "
        "Kafka-protocol brokers without it, e.g. Tansu in tests (consumers still dedupe by event id)"
    )

    object_store: StoreKind = Field(StoreKind.LOCAL, description="local directory or s3 (MinIO)")
    s3_endpoint: str = Field("", description="S3 endpoint host:port, e.g. minio:9000")
    s3_access_key: SecretStr = Field(SecretStr(""), description="S3 access key")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key")
    s3_bucket: str = Field("bright-kitchen", description="bucket for snapshots and evidence")
    s3_secure: bool = Field(False, description="use TLS to reach S3")
    s3_region: str = Field("us-east-1", description="S3 region")

    jwt_secret: SecretStr = Field(SecretStr(""), description="HMAC key that signs access tokens")
    url_signing_secret: SecretStr = Field(SecretStr(""), description="HMAC key that signs object/play URLs")
    signed_url_ttl_s: int = Field(600, ge=1, le=7 * 24 * 3600, description="lifetime of signed URLs")

    @model_validator(mode="after")
    def _production_needs_servers(self) -> CoreSettings:
        if self.bus == BusKind.KAFKA and not self.kafka_bootstrap:
            raise ValueError("BK_KAFKA_BOOTSTRAP is required when BK_BUS=kafka")
        if self.object_store == StoreKind.S3:
            for name in ("s3_endpoint",):
                if not getattr(self, name):
                    raise ValueError(f"BK_{name.upper()} is required when BK_OBJECT_STORE=s3")
        if self.mode == Mode.PRODUCTION:
            for name in ("jwt_secret", "url_signing_secret"):
                if not getattr(self, name).get_secret_value():
                    raise ValueError(f"BK_{name.upper()} must be set in production mode")
            if not self.database_url:
                raise ValueError("BK_DATABASE_URL is required in production mode")
        for name in ("jwt_secret", "url_signing_secret"):  # at start-up, by name, not at first use
            if secret := getattr(self, name).get_secret_value():
                check_hmac_key(secret, f"BK_{name.upper()}")
        return self


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings from the environment, or stop with a message naming each bad variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, cls)) from None


def describe_validation_error(exc: ValidationError, cls: type[BaseSettings]) -> str:
    prefix = cls.model_config.get("env_prefix", ENV_PREFIX)
    lines = [f"invalid settings for {cls.__name__}:"]
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
        var = f"{prefix}{'__'.join(loc).upper()}" if loc else "(settings)"
        msg = err.get("msg", "invalid")
        if "input" in err and loc and not any(s in var for s in ("SECRET", "KEY", "PASSWORD")):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"  {var}: {msg}")
    return "\n".join(lines)
