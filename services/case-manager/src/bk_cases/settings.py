"""Case-manager settings: the shared core tree plus the loop's own knobs (env prefix ``BK_``)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, SecretStr, field_validator, model_validator

from bk_cases.audit.rules import audit_key_refusals
from bk_cases.notifications.config import NotifySettings
from bkcore.netpolicy import CLUSTER_NETWORKS_DOC, AddressPolicy, http_url_refusal
from bkcore.production_checks import hmac_key_refusal, placeholder_refusals, webhook_secret_refusals
from bkcore.service_tokens import SERVICE_IDENTITIES
from bkcore.settings import Mode


class CaseSettings(NotifySettings):  # + the phone channels (bk_cases.notifications.config)
    """Every field is read from ``BK_<FIELD>`` (e.g. ``BK_AGGREGATION_WINDOW_S``)."""

    service_name: str = Field("case-manager", description="name used in logs, metrics and events")
    consumer_group: str = Field("case-manager", description="Kafka consumer group of the case consumers")
    aggregation_window_s: int = Field(
        1800, ge=0, description="a repeat of the same type at the same site within this joins the open case"
    )
    deadline_class_i_h: float = Field(2.0, gt=0, description="hours to rectify a Class I case")
    deadline_class_ii_h: float = Field(24.0, gt=0, description="hours to rectify a Class II case")
    red_card_after_h: float = Field(
        24.0, gt=0, description="hours after the yellow card (deadline) until the red card and escalation"
    )
    sweep_interval_s: float = Field(60.0, gt=0, description="how often overdue cases and digests are swept")
    unknown_site_retry_s: float = Field(
        15.0, gt=0, le=3600, description="first retry of a signal held for a site the directory lacks"
    )
    unknown_site_retry_max_s: float = Field(
        300.0, gt=0, le=3600, description="longest wait between retries of a held signal (the wait doubles)"
    )
    unknown_site_hold_s: float = Field(
        3600.0,
        gt=0,
        le=7 * 24 * 3600,
        description="how long a signal for an unknown site is held before it goes to <topic>.dlq",
    )
    score_publish_s: float = Field(
        10.0, gt=0, description="site_scores.v1: tenants whose score inputs changed are re-scored this often"
    )
    score_refresh_s: float = Field(
        3600.0, gt=0, description="site_scores.v1: every tenant is re-scored this often (the window slides)"
    )
    score_republish_s: float = Field(
        86400.0, gt=0, description="site_scores.v1: an unchanged score is sent again after this long"
    )
    notify_cooldown_s: int = Field(
        600, ge=0, description="per-recipient quiet time; non-urgent alarms inside it become one digest"
    )
    webhook_urls: list[str] = Field(
        default_factory=list,
        description="JSON list of URLs that receive every notification (CHANNEL_WEBHOOK)",
    )
    webhook_targets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="JSON object: tenant_id -> URLs that receive that tenant's notifications",
    )
    webhook_secret: SecretStr = Field(
        SecretStr(""), description="HMAC-SHA256 key signing webhook bodies (set from the environment)"
    )
    webhook_backoff_s: float = Field(0.5, gt=0, description="first webhook retry delay; doubles, with jitter")
    service_client_secrets: dict[str, list[SecretStr]] = Field(
        default_factory=dict,
        description="JSON object: service identity -> its client secret, or a list of them while one is "
        "rotated, for POST /auth/tokens (the public-api's BK_SERVICE_CLIENT_SECRET); unused in the "
        "embedded mode, which signs in-process",
    )
    login_account_failures: int = Field(
        5, ge=1, le=100, description="wrong passwords in a row that lock an account (then 30 s, doubling)"
    )
    login_ip_failures: int = Field(
        30, ge=1, le=10_000, description="failed logins in a row from one client IP that lock it"
    )
    login_lock_s: float = Field(
        30.0, ge=1, le=3600, description="first lock after too many failures; doubles with each further one"
    )
    notifier_group: str = Field(
        "case-manager-notifier", description="consumer group delivering notifications.v1"
    )
    webhook_max_attempts: int = Field(5, ge=1, le=20, description="tries per webhook delivery")
    webhook_allowed_networks: str = Field(
        "",
        description="comma list of internal networks webhook receivers may be in (e.g. a WeCom/DingTalk "
        "relay on 192.168.20.0/24); production refuses loopback, link-local, private, CGNAT and unique-local "
        "receivers otherwise; metadata and cluster addresses are always refused (bkcore.netpolicy)",
    )
    cluster_networks: str = Field("", description=CLUSTER_NETWORKS_DOC)
    consumer_batch: int = Field(
        # 1000: a burst's repeats cost a transaction, a locking read and a commit per batch; measured
        # 4,300-4,900/s at 1000 vs ~3,300/s at 500 (docs/benchmarks.md), 2000 no better.
        1000,
        ge=1,
        le=5000,
        description="most detections one consumer transaction handles at once",
    )
    case_update_coalesce_s: float = Field(
        5.0,
        ge=0,
        description="a case's merges (repeats bumping occurrences) are told in cases.v1 at most once per "
        "this many seconds, by a flush of the cases marked pending; 0: one cases.v1 per case per batch",
    )
    outbox_poll_s: float = Field(0.5, gt=0, description="outbox relay poll interval (it is also woken)")
    audit_key: SecretStr = Field(
        SecretStr(""),
        description="HMAC-SHA256 key (>= 32 bytes) that keys the audit chain; kept outside the database, so "
        "whoever can write the database cannot re-chain it (embedded: generated under data_dir)",
    )
    audit_previous_keys: list[SecretStr] = Field(
        default_factory=list,
        description="JSON list of rotated-out audit keys: they no longer sign, they keep verifying the "
        "entries they made (docs/security.md, rotating the audit key)",
    )
    audit_checkpoint_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="how often each audit chain's tip is signed into the object store; entries newer than "
        "the last checkpoint are the only ones that could be cut off the end unnoticed",
    )
    db_pool_size: int = Field(10, ge=1, description="PostgreSQL connection pool size")

    def webhook_policy(self) -> AddressPolicy:
        """Where webhooks may be sent (checked again, after resolution, at every attempt)."""
        return AddressPolicy.build(
            allow_internal=self.mode == Mode.EMBEDDED,
            allowed_networks=self.webhook_allowed_networks,
            cluster_networks=self.cluster_networks,
            allowed_setting="BK_WEBHOOK_ALLOWED_NETWORKS",
            cluster_setting="BK_CLUSTER_NETWORKS",
        )

    @model_validator(mode="after")
    def _webhook_addresses(self) -> CaseSettings:
        """At configuration: every webhook URL against the address policy as written (a metadata or
        cluster name, an internal literal outside the allowed networks, http in production)."""
        policy = self.webhook_policy()  # raises naming the setting on a bad network
        urls = [*self.webhook_urls, *(u for targets in self.webhook_targets.values() for u in targets)]
        refused = [
            f"{u.split('?', 1)[0]!r}: {why}"
            for u in urls
            if (why := http_url_refusal(u, policy, https_only=self.mode == Mode.PRODUCTION))
        ]
        if refused:
            raise ValueError("BK_WEBHOOK_URLS/BK_WEBHOOK_TARGETS: " + "; ".join(refused))
        return self

    @field_validator("service_client_secrets", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        if isinstance(value, dict):  # one secret, or the old and the new during a rotation
            return {k: [v] if isinstance(v, str | SecretStr) else v for k, v in value.items()}
        return value

    def setting_refusals(self) -> list[str]:
        urls = [*self.webhook_urls, *(u for targets in self.webhook_targets.values() for u in targets)]
        refusals = super().setting_refusals()
        refusals += webhook_secret_refusals(bool(urls), self.webhook_secret.get_secret_value())
        others = {
            "BK_URL_SIGNING_SECRET": self.url_signing_secret.get_secret_value(),
            "BK_WEBHOOK_SECRET": self.webhook_secret.get_secret_value(),
            "BK_JWT_SECRET": self.jwt_secret.get_secret_value(),
            **{
                f"BK_SERVICE_CLIENT_SECRETS[{c}]": k.get_secret_value()
                for c, keys in self.service_client_secrets.items()
                for k in keys
            },
        }
        refusals += audit_key_refusals(
            self.audit_key.get_secret_value(),
            [k.get_secret_value() for k in self.audit_previous_keys],
            others,
        )
        for client, secrets in self.service_client_secrets.items():
            if client not in SERVICE_IDENTITIES:
                refusals.append(
                    f"BK_SERVICE_CLIENT_SECRETS names {client!r}, not a service identity "
                    f"({', '.join(sorted(SERVICE_IDENTITIES))})"
                )
            for secret in secrets:
                if why := hmac_key_refusal(secret.get_secret_value(), f"BK_SERVICE_CLIENT_SECRETS[{client}]"):
                    refusals.append(why)
        return refusals

    def production_refusals(self, private: Ed25519PrivateKey | None, has_public: bool) -> list[str]:
        clients = [
            (f"BK_SERVICE_CLIENT_SECRETS[{c}]", s.get_secret_value())
            for c, secrets in self.service_client_secrets.items()
            for s in secrets
        ]
        audit = [("BK_AUDIT_PREVIOUS_KEYS", k.get_secret_value()) for k in self.audit_previous_keys]
        refusals = [
            *super().production_refusals(private, has_public),
            *placeholder_refusals([*clients, *audit]),
        ]
        if not self.audit_key.get_secret_value():
            refusals.append(
                "BK_AUDIT_KEY must be set: the audit chain's HMAC key, kept outside the database "
                "(`openssl rand -hex 32`)"
            )
        return refusals
