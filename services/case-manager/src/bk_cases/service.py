"""The case-manager service: wiring of database, consumers, relay, sweeper and HTTP routes."""

from __future__ import annotations

import logging
from functools import partial

from fastapi import FastAPI

from bk_cases.audit import service as audit
from bk_cases.audit.consumers import subscribe as subscribe_evidence_access
from bk_cases.audit.scheduled import checkpointer as audit_checkpointer
from bk_cases.audit.views import router as audit_router
from bk_cases.auth.views import router as auth_router
from bk_cases.cases.consumers import subscribe_all
from bk_cases.cases.scheduled import sweeper, update_flusher
from bk_cases.cases.views import router as cases_router
from bk_cases.context import Context
from bk_cases.db import DEFAULT_SCHEMA, MIGRATIONS, import_models, outbox
from bk_cases.directory.events import publish_snapshot, tenant_ids
from bk_cases.directory.seed import DemoData, seed_demo
from bk_cases.directory.views import router as directory_router
from bk_cases.held.scheduled import releaser
from bk_cases.notifications.config import build_channels
from bk_cases.notifications.delivery import Channels
from bk_cases.notifications.delivery import subscribe as subscribe_notifier
from bk_cases.notifications.senders import WebhookSender
from bk_cases.notifications.views import router as notifications_router
from bk_cases.settings import CaseSettings
from bk_cases.stats.consumers import ScorePublisher
from bk_cases.stats.consumers import subscribe as subscribe_scores
from bk_cases.warehouse import flows as warehouse
from bkcore.db import Database, OutboxRelay, database_url
from bkcore.http import create_app
from bkcore.retention import RetentionPolicy
from bkcore.service import Runtime, Service
from bkcore.settings import Mode
from bkcore.warehouse import scheduled_export

log = logging.getLogger(__name__)
NAME = "case-manager"


class CaseService(Service):
    name = NAME

    def __init__(self, runtime: Runtime, settings: CaseSettings, channels: Channels | None = None) -> None:
        import_models()
        url = database_url(settings.database_url, settings.data_dir, NAME)
        db = Database(url, schema=settings.db_schema or DEFAULT_SCHEMA, pool_size=settings.db_pool_size)
        audit.use_keys(db, audit.keys_from_settings(settings))  # the chain's key: outside the database
        self.ctx = Context(db=db, runtime=runtime, settings=settings)
        retention = RetentionPolicy.from_settings(settings)
        self.ctx.relay = OutboxRelay(
            db, outbox, runtime.bus, poll_s=settings.outbox_poll_s, retention=retention
        )
        self.sweeper = sweeper(self.ctx)
        self.flusher = update_flusher(self.ctx)
        self.held = releaser(self.ctx)  # signals for sites the directory does not know yet
        self.audit_checkpoints = audit_checkpointer(self.ctx)
        self.scores = ScorePublisher(self.ctx)
        self.warehouse = scheduled_export(  # BK_WAREHOUSE_EXPORT_AT; idle when it is empty
            "case-manager-warehouse-export",
            settings,
            clock=runtime.clock.now,
            tenants=partial(warehouse.tenant_ids, self.ctx),
            run_day=partial(warehouse.export_tenant_day, self.ctx),
        )
        self.channels = channels or default_channels(settings)
        self.app = self._build_app()
        self._consumers_subscribed = False

    @property
    def db(self) -> Database:
        return self.ctx.db

    def _build_app(self) -> FastAPI:
        app = create_app(service=NAME, title="Bright Kitchen case manager", readiness=self.readiness)
        app.state.ctx = self.ctx
        app.state.scores = self.scores  # stats routes mark tenants for re-scoring
        for router in (auth_router, directory_router, cases_router, audit_router, notifications_router):
            app.include_router(router)
        from bk_cases.admin.views import router as admin_router
        from bk_cases.directory.feed_views import router as directory_feed_router
        from bk_cases.export.views import router as export_router
        from bk_cases.labels.views import router as labels_router
        from bk_cases.stats.views import router as stats_router
        from bk_cases.warehouse.views import router as warehouse_router

        app.include_router(stats_router)
        app.include_router(admin_router)
        app.include_router(directory_feed_router)
        app.include_router(export_router)
        app.include_router(labels_router)
        app.include_router(warehouse_router)
        return app

    async def migrate(self) -> None:
        await self.db.migrate(MIGRATIONS)

    def subscribe(self) -> None:
        """Register the consumers on the bus (before the bus starts); idempotent."""
        if not self._consumers_subscribed:
            subscribe_all(self.ctx)
            subscribe_evidence_access(self.ctx)  # evidence other services gave staff, chained
            subscribe_notifier(self.ctx, self.channels)
            subscribe_scores(self.ctx, self.scores)
            self._consumers_subscribed = True

    async def start(self) -> None:
        await self.migrate()
        self.subscribe()
        assert self.ctx.relay is not None
        await self.publish_directory()  # so a consumer that is new or lost its read model catches up
        self.ctx.relay.start()
        self.sweeper.start()
        self.flusher.start()
        self.held.start()
        self.audit_checkpoints.start()
        self.scores.loop.start()
        if self.ctx.settings.warehouse_export_at:
            self.warehouse.start()

    async def stop(self) -> None:
        await self.sweeper.stop()
        await self.flusher.stop()
        await self.held.stop()
        await self.audit_checkpoints.stop()
        await self.scores.loop.stop()
        await self.warehouse.stop()
        if self.ctx.relay is not None:
            await self.ctx.relay.stop()
        await self.channels.aclose()
        await self.db.dispose()

    async def readiness(self) -> dict[str, bool]:
        return {"database": await self.db.ready(), "bus": await self.ctx.runtime.bus.ready()}

    async def seed_demo(self, demo: DemoData) -> None:
        await seed_demo(self.db, demo)
        await self.publish_directory(demo.TENANT_ID)

    async def publish_directory(self, tenant_id: str | None = None) -> int:
        """A ``directory.v1`` snapshot of one tenant or of all (start-up, seed, on demand); returns how
        many events were written to the outbox."""
        async with self.db.session() as session:
            tenants = [tenant_id] if tenant_id else await tenant_ids(session)
            count = 0
            for tid in tenants:
                count += await publish_snapshot(session, tenant_id=tid)
        self.ctx.wake_relay()
        return count


def default_channels(settings: CaseSettings) -> Channels:
    """The phone channels the settings configure (none in the embedded demo without them: its
    messages reach the inbox and each channel is recorded as skipped), and the webhooks if any."""
    webhook = None
    if settings.webhook_urls or settings.webhook_targets:
        webhook = WebhookSender(
            settings.webhook_secret.get_secret_value(),
            max_attempts=settings.webhook_max_attempts,
            base_s=settings.webhook_backoff_s,
            policy=settings.webhook_policy(),
            https_only=settings.mode == Mode.PRODUCTION,
        )
    return Channels(
        senders=build_channels(settings),
        webhook=webhook,
        max_attempts=settings.notify_max_attempts,
        base_s=settings.notify_backoff_s,
        cap_s=settings.notify_backoff_cap_s,
    )


def create_service(
    runtime: Runtime, settings: CaseSettings | None = None, channels: Channels | None = None
) -> CaseService:
    """The service on ``runtime``'s adapters; settings from the environment unless given."""
    if settings is None:
        from bkcore.settings import load_settings

        base = runtime.settings.model_dump()
        base.update(service_name=NAME)
        settings = load_settings(
            CaseSettings, **{k: v for k, v in base.items() if k in CaseSettings.model_fields}
        )
    return CaseService(runtime, settings, channels)
