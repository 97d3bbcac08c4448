"""Public-API settings: one validated tree, read from ``BK_*`` / ``BK_PUBLIC_*`` variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bkcore.settings import CoreSettings


class PublicSettings(CoreSettings):
    """Everything the public edge needs besides the shared core settings."""

    model_config = SettingsConfigDict(env_prefix="BK_", extra="ignore", env_nested_delimiter="__")

    service_name: str = Field("public-api", description="name used in logs, metrics and events")
    db_schema: str = Field("public_api", description="PostgreSQL schema of this service")

    # Where the other services' HTTP APIs live. Empty = this process's own server (embedded mode
    # mounts every service under /api/<name> on one port), resolved when the first call is made.
    cases_url: str = Field("", description="case-manager base URL, e.g. http://case-manager:8000")
    ledger_url: str = Field("", description="ledger base URL, e.g. http://ledger:8000")
    gateway_url: str = Field("", description="stream-gateway base URL, e.g. http://stream-gateway:8000")
    upstream_timeout_s: float = Field(3.0, gt=0, le=60, description="timeout of one call to another service")

    default_tenant: str = Field(
        "minghu", description="tenant a mini-program login lands in when none is named"
    )
    timezone: str = Field("Asia/Shanghai", description="local time zone for opening hours and 'today'")
    session_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="lifetime of a parent's session token")
    play_url_ttl_s: int = Field(120, ge=10, le=3600, description="lifetime of a signed live play URL")
    invite_ttl_days: int = Field(30, ge=1, le=365, description="how long a school's invite code is valid")

    cache_ttl_s: float = Field(30.0, ge=0, le=3600, description="how long public reads are cached")
    rate_user_per_min: int = Field(120, ge=1, description="requests per minute allowed per parent")
    rate_ip_per_min: int = Field(600, ge=1, description="requests per minute allowed per client IP")
    rate_write_per_min: int = Field(10, ge=1, description="ratings/complaints/bindings per minute per parent")
    max_photo_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024, description="largest complaint photo accepted"
    )
    max_photos: int = Field(6, ge=0, le=20, description="most photos per complaint")
    trust_forwarded_for: bool = Field(
        False, description="take the client IP from X-Forwarded-For (behind an ingress)"
    )
