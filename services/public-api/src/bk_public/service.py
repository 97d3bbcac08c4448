"""The public-api service: the parents' edge, the console's alarm stream, and the web clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware import Middleware

from bk_public import demo
from bk_public.api import admin, auth, console, feedback, parents, public, site_views
from bk_public.cache import TTLCache
from bk_public.context import Context
from bk_public.fastpath import PublicReadFastPath
from bk_public.identity import EmbeddedIdentityProvider, IdentityProvider, WeChatIdentityProvider
from bk_public.invites import InviteGuard
from bk_public.models import directory, inbox, outbox
from bk_public.queries import signed
from bk_public.ratelimit import RateLimiter
from bk_public.readmodel import CaseProjector, follow_site
from bk_public.score_view import ScoreProjector
from bk_public.settings import PublicSettings
from bk_public.upstream import HttpUpstream, Upstream
from bk_public.web import static_app
from bkcore.auth import PUBLIC_API
from bkcore.bus.base import Delivery
from bkcore.db import Database, OutboxRelay, database_url
from bkcore.directory import DirectoryReadModel
from bkcore.http import create_app
from bkcore.retention import RetentionPolicy
from bkcore.secrets import embedded_secret
from bkcore.service import Runtime, Service
from bkcore.service_tokens import (
    SERVICE_IDENTITIES,
    HttpTokenSource,
    LocalTokenSource,
    TokenSource,
)
from bkcore.settings import SettingsError, load_settings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
CONSUMER_GROUP = "public-api"


class PublicService(Service):
    name = "public-api"

    def __init__(
        self,
        runtime: Runtime,
        settings: PublicSettings,
        *,
        upstream: Upstream | None = None,
        identity: IdentityProvider | None = None,
    ) -> None:
        self.runtime, self.settings = runtime, settings
        #: Where this process's own server answers; the embedded runner sets it once the port is known.
        self.local_base_url = _default_base(settings)
        self.db = Database(
            database_url(settings.database_url, runtime.data_dir, "public-api"), schema=settings.db_schema
        )
        self.tokens = _token_source(runtime, settings, lambda: self._base_urls()["cases"])
        # Staff as the case-manager's directory has them now (directory.v1): every console request
        # and every open alarm stream is checked against it.
        self.directory = DirectoryReadModel(
            self.db,
            directory,
            inbox,
            service="public-api",
            ttl_s=settings.directory_check_ttl_s,
            on_site=follow_site,  # a moved site's cases and score go with it
        )
        self._http_upstream = (
            None
            if upstream
            else HttpUpstream(
                tokens=self.tokens,
                base_urls=self._base_urls,
                timeout_s=settings.upstream_timeout_s,
            )
        )
        self.ctx = Context(
            settings=settings,
            runtime=runtime,
            db=self.db,
            upstream=upstream or self._http_upstream,  # type: ignore[arg-type]
            identity=identity or _identity_provider(runtime, settings),
            relay=OutboxRelay(
                self.db, outbox, runtime.bus, poll_s=2.0, retention=RetentionPolicy.from_settings(settings)
            ),
            tokens=self.tokens,
            invites=InviteGuard(self.db, settings, runtime.clock),
            cache=TTLCache(settings.cache_ttl_s),
            user_limit=RateLimiter(settings.rate_user_per_min),
            ip_limit=RateLimiter(settings.rate_ip_per_min),
            write_limit=RateLimiter(settings.rate_write_per_min),
            access=self.directory.access,
        )
        self._projector = CaseProjector(self.db, self.directory)
        self._scores = ScoreProjector(self.db)
        self._migrated = asyncio.Event()
        self.app = self._build_app()
        # Subscribe now (before the shared bus starts); handlers wait for the migration.
        runtime.bus.subscribe("cases.v1", CONSUMER_GROUP, self._on_case)
        self.directory.subscribe(runtime.bus, CONSUMER_GROUP, ready=self._migrated.wait)
        runtime.bus.subscribe("site_scores.v1", CONSUMER_GROUP, self._on_score)

    def _build_app(self) -> FastAPI:
        app = create_app(
            service=self.name,
            title="Bright Kitchen public API",
            readiness=self.readiness,
            description="Mini-program / H5 edge for parents, the kiosk, and the console's alarm stream.",
        )
        app.state.ctx = self.ctx
        app.state.stopping = asyncio.Event()
        for module in (auth, parents, site_views, feedback, public, admin, console):
            app.include_router(module.router)
        # Innermost user middleware: inside bkcore's request-context one (ids, logs, metrics).
        app.user_middleware.append(Middleware(PublicReadFastPath, ctx=self.ctx, routes=public.router.routes))
        return app

    def static_app(self):  # type: ignore[no-untyped-def]
        """The web clients (console, H5, kiosk): mount at ``/`` after every ``/api`` prefix."""
        return static_app()

    def _base_urls(self) -> dict[str, str]:
        base = self.local_base_url.rstrip("/")
        s = self.settings
        return {
            "cases": s.cases_url or f"{base}/api/cases",
            "ledger": s.ledger_url or f"{base}/api/ledger",
            "gateway": s.gateway_url or f"{base}/api/gateway",
        }

    async def _on_case(self, delivery: Delivery) -> None:
        await self._migrated.wait()
        row = await self._projector.apply(delivery)
        if row is None:
            return
        self.ctx.invalidate_public(row["tenant_id"])
        self.ctx.cache.invalidate(("closed", row["tenant_id"], row["site_id"]))
        # The wall shows the picture at once: sign it here, consoles hold no object-store rights.
        self.ctx.hub.publish({**row, "snapshot_url": await signed(self.ctx, row.get("snapshot_key") or "")})

    async def _on_score(self, delivery: Delivery) -> None:
        await self._migrated.wait()
        if await self._scores.apply(delivery):
            self.ctx.cache.invalidate(("scores", delivery.tenant_id))
            self.ctx.invalidate_public(delivery.tenant_id)

    async def start(self) -> None:
        await self.db.migrate(MIGRATIONS)
        self._migrated.set()
        self.ctx.relay.start()

    async def stop(self) -> None:
        self.app.state.stopping.set()
        await self.ctx.relay.stop()
        if self._http_upstream is not None:
            await self._http_upstream.aclose()
        if isinstance(self.tokens, HttpTokenSource):
            await self.tokens.aclose()
        if isinstance(self.ctx.identity, WeChatIdentityProvider):
            await self.ctx.identity.aclose()
        await self.db.dispose()

    async def readiness(self) -> dict[str, bool]:
        return {"database": await self.db.ready(), "bus": await self.runtime.bus.ready()}

    async def seed_demo(self, *, tenant_id: str, site_ids: list[str]) -> dict[str, str]:
        """Invite codes (one per site, stable) and a few notices and tips for the demo tenant."""
        return await demo.seed(self.ctx, tenant_id=tenant_id, site_ids=site_ids)


def _identity_provider(runtime: Runtime, settings: PublicSettings) -> IdentityProvider:
    """WeChat's login when the mini-program's app id is configured (production refuses to start
    without it); otherwise the embedded demo login, with a key kept in the data directory."""
    if settings.wechat_app_id:
        return WeChatIdentityProvider(
            settings.wechat_app_id,
            settings.wechat_app_secret.get_secret_value(),
            base_url=settings.wechat_api_base,
            timeout_s=settings.upstream_timeout_s,
        )
    log.warning("parents log in through the embedded demo login (any word); set BK_WECHAT_APP_ID for WeChat")
    return EmbeddedIdentityProvider(embedded_secret(runtime.data_dir, "wx-idp"))


def _token_source(runtime: Runtime, settings: PublicSettings, issuer_url: Callable[[], str]) -> TokenSource:
    """In-process where this process holds the signing key (embedded); else the case-manager's
    token route, as the ``public-api`` client (production: this service has no private key)."""
    if runtime.issuer is not None:
        return LocalTokenSource(runtime.issuer, SERVICE_IDENTITIES[PUBLIC_API])
    secret = settings.service_client_secret.get_secret_value()
    if not secret:
        raise SettingsError(
            "BK_SERVICE_CLIENT_SECRET is required: the public-api holds no signing key and asks the "
            "case-manager for its tokens (set the same value in its BK_SERVICE_CLIENT_SECRETS)"
        )
    return HttpTokenSource(
        issuer_url=issuer_url,
        client_id=PUBLIC_API,
        client_secret=secret,
        timeout_s=settings.upstream_timeout_s,
    )


def _default_base(settings: PublicSettings) -> str:
    if settings.public_base_url:
        return settings.public_base_url
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(
        settings.http_host, settings.http_host
    )
    return f"http://{host}:{settings.http_port}"


def create_service(runtime: Runtime, settings: PublicSettings | None = None) -> PublicService:
    return PublicService(runtime, settings or load_settings(PublicSettings))
