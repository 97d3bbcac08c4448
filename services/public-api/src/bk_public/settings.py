"""Public-API settings: one validated tree, read from ``BK_*`` / ``BK_PUBLIC_*`` variables."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bkcore.production_checks import hmac_key_refusal
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
    alarm_stream_recheck_s: float = Field(
        15.0,
        gt=0,
        le=30,
        description="how often an open alarm stream asks the directory whether its user may still see "
        "it (with directory_check_ttl_s, a deactivation closes the stream within a minute)",
    )

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
        False,
        description="retired: it trusted the leftmost X-Forwarded-For, which the client writes; "
        "set BK_TRUSTED_PROXY_HOPS (1 behind one ingress) or BK_TRUSTED_PROXY_CIDRS instead",
    )
    service_client_secret: SecretStr = Field(
        SecretStr(""),
        description="this service's client secret at the token issuer (the case-manager's "
        "BK_SERVICE_CLIENT_SECRETS['public-api']): for its service tokens and parents' sessions",
    )
    wechat_app_id: str = Field(
        "",
        max_length=64,
        description="the mini-program's AppID: parents log in through WeChat's jscode2session with it; "
        "empty = the embedded demo login, which accepts any word (production refuses it)",
    )
    wechat_app_secret: SecretStr = Field(
        SecretStr(""), description="the mini-program's AppSecret (from the environment)"
    )
    wechat_api_base: str = Field(
        "https://api.weixin.qq.com", max_length=256, description="WeChat's API host (changed only for tests)"
    )
    invite_failures_global: int = Field(
        100, ge=1, description="wrong invite codes in a row, from everyone, that pause all binding"
    )
    invite_failures_per_parent: int = Field(10, ge=1, description="wrong invite codes in a row per parent")
    invite_failures_per_ip: int = Field(30, ge=1, description="wrong invite codes in a row per client IP")
    invite_lock_s: float = Field(
        60.0, ge=1, le=3600, description="first pause after too many wrong codes; doubles with each more"
    )

    def setting_refusals(self) -> list[str]:
        refusals = super().setting_refusals()
        if self.trust_forwarded_for:
            refusals.append(
                "BK_TRUST_FORWARDED_FOR is retired (it let clients choose their own IP): "
                "set BK_TRUSTED_PROXY_HOPS=1 behind one ingress, or BK_TRUSTED_PROXY_CIDRS"
            )
        secret = self.service_client_secret.get_secret_value()
        if secret and (why := hmac_key_refusal(secret, "BK_SERVICE_CLIENT_SECRET")):
            refusals.append(why)
        if bool(self.wechat_app_id) != bool(self.wechat_app_secret.get_secret_value()):
            refusals.append(
                "BK_WECHAT_APP_ID and BK_WECHAT_APP_SECRET go together: set both, or neither (demo login)"
            )
        return refusals

    def production_refusals(self, private: Ed25519PrivateKey | None, has_public: bool) -> list[str]:
        out = super().production_refusals(private, has_public)
        if not self.wechat_app_id:
            out.append(
                "BK_WECHAT_APP_ID / BK_WECHAT_APP_SECRET must be set: without them parents log in through "
                "the embedded demo login, which accepts any word"
            )
        return out
