"""Settings: one validated tree per service, read from the environment (prefix ``BK_``).

An invalid or missing setting stops the service at start-up with a message that names the
environment variable, so an operator knows exactly what to fix.
"""

from __future__ import annotations

import base64
import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bkcore.auth import CASE_MANAGER
from bkcore.keys import load_private_key, load_public_keys, private_key_pem, raw_private_bytes
from bkcore.production_checks import hmac_key_refusal, placeholder_refusals

ENV_PREFIX = "BK_"


class Mode(StrEnum):
    EMBEDDED = "embedded"  # one process, SQLite, local object store, in-process bus
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
        True,
        description="after start-up, move the start-up heap out of the garbage collector's way "
        "(gc.freeze): full collections stop pausing the process for 80-200 ms",
    )

    http_host: str = Field("127.0.0.1", description="address the HTTP API binds to")
    http_port: int = Field(8000, ge=0, le=65535, description="port of the HTTP API (0 = any free port)")
    public_base_url: str = Field("", description="external URL of this service, for signed links")

    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty = SQLite file under data_dir (embedded)"
    )
    db_schema: str = Field("", description="PostgreSQL schema of this service; empty = service default")
    outbox_retention_days: float = Field(
        7.0,
        ge=0,
        le=3650,
        description="published outbox rows are deleted after this many days (0 = kept); "
        "unpublished ones never are (bkcore.retention)",
    )
    inbox_retention_days: float = Field(
        30.0,
        ge=0,
        le=3650,
        description="inbox rows (which make a redelivered event a no-op) are deleted "
        "after this many days (0 = kept); keep it well above the broker's topic and DLQ retention "
        "(bkcore.retention)",
    )
    retention_interval_s: float = Field(
        3600.0, gt=0, le=7 * 24 * 3600, description="how often the outbox and inbox retention runs"
    )

    bus: BusKind = Field(BusKind.INPROC, description="inproc (embedded) or kafka")
    kafka_bootstrap: str = Field("", description="Kafka bootstrap servers, host:port[,host:port]")
    kafka_client_id: str = Field("", description="Kafka client id; empty = service name")
    kafka_idempotence: bool = Field(
        True,
        description="idempotent producer (a retried send is written once); false only for "
        "Kafka-protocol brokers without it, e.g. Tansu in tests (consumers still dedupe by event id)",
    )

    object_store: StoreKind = Field(StoreKind.LOCAL, description="local directory or s3 (MinIO)")
    s3_endpoint: str = Field("", description="S3 endpoint host:port, e.g. minio:9000")
    s3_access_key: SecretStr = Field(SecretStr(""), description="S3 access key")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key")
    s3_bucket: str = Field("bright-kitchen", description="bucket for snapshots and evidence")
    s3_secure: bool = Field(False, description="use TLS to reach S3")
    s3_region: str = Field("us-east-1", description="S3 region")

    # Access tokens (docs/security.md, "Keys"): the case-manager alone signs, with an Ed25519 key;
    # every other service gets only the public key(s). Embedded: a key pair generated under data_dir.
    jwt_private_key: SecretStr = Field(
        SecretStr(""),
        description="PEM of the Ed25519 key that signs access tokens: the case-manager's "
        "alone (embedded: generated under data_dir)",
    )
    jwt_private_key_file: Path | None = Field(
        None, description="file holding that PEM instead (a mounted Kubernetes Secret)"
    )
    jwt_public_keys: str = Field(
        "",
        description="PEM public key(s) that verify access tokens; during a rotation the old and "
        "the new one (the issuer's own key is always accepted)",
    )
    jwt_public_keys_file: Path | None = Field(None, description="file holding those PEM blocks instead")
    jwt_secret: SecretStr = Field(
        SecretStr(""), description="retired: the HS256 key every service shared; production refuses it"
    )
    url_signing_secret: SecretStr = Field(SecretStr(""), description="HMAC key that signs object/play URLs")
    signed_url_ttl_s: int = Field(600, ge=1, le=7 * 24 * 3600, description="lifetime of signed URLs")
    directory_check_ttl_s: float = Field(
        30.0,
        ge=0,
        le=60,
        description="how long a staff user's directory state (active, role, org unit, sites) is cached "
        "per replica: a deactivation or a move is enforced within this many seconds (at most a minute)",
    )
    operator_tenant: str = Field(
        "",
        max_length=64,
        description="the tenant of the platform's operator: its platform admins alone administer what "
        "every tenant shares — open tenants (case-manager), publish and switch the detector's models; "
        "empty: nobody may over the API (embedded: the demo tenant). Set it on every service",
    )

    trusted_proxy_hops: int = Field(
        0,
        ge=0,
        le=8,
        description="reverse proxies in front of this service (an ingress: 1); the "
        "client IP is the X-Forwarded-For entry the outermost one wrote (bkcore.clientip)",
    )
    trusted_proxy_cidrs: list[str] = Field(
        default_factory=list,
        description="JSON list of the proxies' networks instead of a count: "
        "X-Forwarded-For is read right to left, skipping these, only when the peer is one of them",
    )

    warehouse_export_at: str = Field(
        "",
        pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d$",
        description="UTC time of day (HH:MM) after which each service exports the last "
        "BK_WAREHOUSE_LOOKBACK_DAYS days to the warehouse (bkcore.warehouse); empty = no scheduled "
        "export (the default), `brightkitchen export` still runs on demand",
    )
    warehouse_lookback_days: int = Field(
        3, ge=1, le=31, description="days the scheduled warehouse export re-exports (late changes land)"
    )
    warehouse_pseudonym_key: SecretStr = Field(
        SecretStr(""),
        description="HMAC key that pseudonymises personal data in warehouse exports (the same in every "
        "service); embedded mode generates one under data_dir",
    )
    warehouse_raw_personal_tenants: list[str] = Field(
        default_factory=list,
        description="JSON list of tenants whose policy allows personal data (names, phones, "
        "certificate numbers) raw in their warehouse export; every other tenant's is pseudonymised",
    )

    @field_validator("trusted_proxy_cidrs")
    @classmethod
    def _networks(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad entry
        return cidrs

    def token_private_key(self) -> Ed25519PrivateKey | None:
        """The configured signing key (None when this process only verifies)."""
        pem, variable = _secret_or_file(self.jwt_private_key, self.jwt_private_key_file, "BK_JWT_PRIVATE_KEY")
        return load_private_key(pem, variable) if pem else None

    def token_public_keys(self) -> list[Ed25519PublicKey]:
        """The configured verification keys (the issuer adds its own)."""
        pem, variable = self.jwt_public_keys, "BK_JWT_PUBLIC_KEYS"
        if self.jwt_public_keys_file is not None:
            variable = "BK_JWT_PUBLIC_KEYS_FILE"
            pem = _read(self.jwt_public_keys_file, variable)
        return load_public_keys(pem, variable) if pem.strip() else []

    @model_validator(mode="after")
    def _production_needs_servers(self) -> CoreSettings:
        if self.bus == BusKind.KAFKA and not self.kafka_bootstrap:
            raise ValueError("BK_KAFKA_BOOTSTRAP is required when BK_BUS=kafka")
        if self.object_store == StoreKind.S3:
            for name in ("s3_endpoint",):
                if not getattr(self, name):
                    raise ValueError(f"BK_{name.upper()} is required when BK_OBJECT_STORE=s3")
        if self.trusted_proxy_hops and self.trusted_proxy_cidrs:
            raise ValueError("set BK_TRUSTED_PROXY_HOPS or BK_TRUSTED_PROXY_CIDRS, not both")
        private = self.token_private_key()  # at start-up, by name, not at first use
        public = self.token_public_keys()
        refusals = self.setting_refusals()
        if self.mode == Mode.PRODUCTION:
            production = self.production_refusals(private, bool(public))
            refusals += [f"production mode refuses: {why}" for why in production]
        if refusals:  # all of them at once: an operator fixes the lot in one go
            raise ValueError("; ".join(refusals))
        return self

    def setting_refusals(self) -> list[str]:
        """Values refused in every mode, by name. Subclasses add their own (``super()`` first)."""
        out = []
        for variable, value in (
            ("BK_URL_SIGNING_SECRET", self.url_signing_secret),
            ("BK_WAREHOUSE_PSEUDONYM_KEY", self.warehouse_pseudonym_key),
        ):
            secret = value.get_secret_value()
            if secret and (why := hmac_key_refusal(secret, variable)):
                out.append(why)
        return out

    def production_refusals(self, private: Ed25519PrivateKey | None, has_public: bool) -> list[str]:
        """Every unsafe setting, by name. Subclasses add their own (``super()`` first)."""
        out: list[str] = []
        if self.bus == BusKind.INPROC:
            out.append("BK_BUS=inproc is the embedded mode's in-process bus; set BK_BUS=kafka")
        if self.object_store == StoreKind.LOCAL:
            out.append("BK_OBJECT_STORE=local is the embedded mode's directory; set BK_OBJECT_STORE=s3")
        if not self.database_url:
            out.append("BK_DATABASE_URL is required (PostgreSQL)")
        elif self.database_url.lower().startswith("sqlite"):
            out.append("BK_DATABASE_URL names SQLite, the embedded mode's database; use PostgreSQL")
        if self.jwt_secret.get_secret_value():
            out.append(
                "BK_JWT_SECRET is retired (one HS256 key every service could sign with): remove it; "
                "tokens are signed by the case-manager's BK_JWT_PRIVATE_KEY"
            )
        if private is None and not has_public:
            out.append("BK_JWT_PUBLIC_KEYS (or BK_JWT_PRIVATE_KEY on the case-manager) must be set")
        if private is not None and self.service_name not in (CASE_MANAGER, ALL_IN_ONE):
            out.append(
                f"BK_JWT_PRIVATE_KEY is the case-manager's alone; give {self.service_name} "
                "only BK_JWT_PUBLIC_KEYS"
            )
        url_secret = self.url_signing_secret.get_secret_value()
        if not url_secret:
            out.append("BK_URL_SIGNING_SECRET must be set")
        elif _same_key(url_secret, self.jwt_secret.get_secret_value(), private):
            out.append("BK_URL_SIGNING_SECRET must not be the token-signing key; give each its own")
        if self.warehouse_export_at and not self.warehouse_pseudonym_key.get_secret_value():
            out.append("BK_WAREHOUSE_PSEUDONYM_KEY must be set when BK_WAREHOUSE_EXPORT_AT schedules exports")
        out += placeholder_refusals(self.secret_settings())
        return out

    def secret_settings(self) -> list[tuple[str, str]]:
        """(variable, value) of every secret setting, subclasses' included, for the placeholder check."""
        prefix = self.model_config.get("env_prefix", ENV_PREFIX)
        return [
            (f"{prefix}{name.upper()}", value.get_secret_value())
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr) and name != "jwt_private_key"
        ]


#: The service name of the one process that hosts all five (embedded, and end-to-end tests).
ALL_IN_ONE = "bright-kitchen"


def _read(path: Path, variable: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path} ({exc.strerror})") from None


def _secret_or_file(value: SecretStr, path: Path | None, variable: str) -> tuple[str, str]:
    if path is not None:
        return _read(path, f"{variable}_FILE"), f"{variable}_FILE"
    return value.get_secret_value(), variable


def _same_key(url_secret: str, jwt_secret: str, private: Ed25519PrivateKey | None) -> bool:
    """Whether the URL-signing secret reuses token key material (the retired secret, the PEM, the seed)."""
    if jwt_secret and url_secret == jwt_secret:
        return True
    if private is None:
        return False
    seed = raw_private_bytes(private)
    forms = {
        private_key_pem(private).strip(),
        seed.hex(),
        base64.b64encode(seed).decode(),
        base64.urlsafe_b64encode(seed).decode().rstrip("="),
    }
    return url_secret.strip() in forms or url_secret.strip().rstrip("=") in forms


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
