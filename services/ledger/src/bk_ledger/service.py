"""The ledger service: database, outbox relay, rule sweeps and the HTTP API on one runtime."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter

from bk_ledger import db as ledger_db
from bk_ledger.common import views as photo_views
from bk_ledger.common.context import LedgerContext
from bk_ledger.completeness import views as completeness_views
from bk_ledger.completeness.publish import CompletenessPublisher
from bk_ledger.disinfection import views as disinfection_views
from bk_ledger.exports import views as export_views
from bk_ledger.iot import views as iot_views
from bk_ledger.iot.broker import BrokerSync
from bk_ledger.iot.subscriber import MqttSubscriber
from bk_ledger.meal import views as meal_views
from bk_ledger.morning_check import views as morning_views
from bk_ledger.pesticide import views as pesticide_views
from bk_ledger.publicity import views as public_views
from bk_ledger.purchase import views as purchase_views
from bk_ledger.recall import consumers as recall_consumers
from bk_ledger.recall import views as recall_views
from bk_ledger.sample import views as sample_views
from bk_ledger.settings import LedgerSettings
from bk_ledger.sites import views as site_views
from bk_ledger.sites.models import directory
from bk_ledger.sites.service import project_site
from bk_ledger.staff import views as staff_views
from bk_ledger.sweeps import sweep_once, sweeper
from bk_ledger.trace import views as trace_views
from bk_ledger.warehouse import flows as warehouse
from bk_ledger.warehouse import views as warehouse_views
from bkcore.auth import LEDGER
from bkcore.auth_http import Authenticator
from bkcore.db import OutboxRelay
from bkcore.directory import DirectoryReadModel
from bkcore.http import create_app
from bkcore.objstore.http import object_router
from bkcore.objstore.local import LocalObjectStore
from bkcore.retention import RetentionPolicy
from bkcore.service import Runtime, Service
from bkcore.settings import load_settings
from bkcore.warehouse import scheduled_export

ROUTERS = (
    site_views,
    photo_views,
    morning_views,
    purchase_views,
    pesticide_views,
    disinfection_views,
    sample_views,
    meal_views,
    staff_views,
    iot_views,
    trace_views,
    recall_views,
    completeness_views,
    export_views,
    public_views,
    warehouse_views,
)


class LedgerService(Service):
    name = "ledger"

    def __init__(self, runtime: Runtime, settings: LedgerSettings) -> None:
        self.runtime, self.settings = runtime, settings
        self.db = ledger_db.make_database(settings.database_url, settings.data_dir, settings.db_schema)
        self.relay = OutboxRelay(
            self.db,
            ledger_db.outbox,
            runtime.bus,
            poll_s=settings.outbox_poll_s,
            retention=RetentionPolicy.from_settings(settings),
        )
        # The case-manager's directory as the ledger keeps it: sites (projected into ``sites``) and
        # staff, whose current state every request is checked against.
        self.directory = DirectoryReadModel(
            self.db,
            directory,
            ledger_db.inbox,
            service="ledger",
            on_site=partial(project_site, default_timezone=settings.default_timezone),
            ttl_s=settings.directory_check_ttl_s,
        )
        self.ctx = LedgerContext(
            settings=settings,
            db=self.db,
            store=runtime.store,
            clock=runtime.clock,
            auth=Authenticator(runtime.tokens, audience=LEDGER, access=self.directory.access),
            relay=self.relay,
        )
        self.sweeper = sweeper(self.ctx)
        # IoT over MQTT: device credentials on the broker (Mosquitto files) and the readings subscriber.
        self.broker = BrokerSync.from_settings(self.db, settings)
        self.ctx.sensors_changed = self.broker.sync if self.broker else None
        self.mqtt = MqttSubscriber(self.ctx) if settings.mqtt_url else None
        self.completeness = CompletenessPublisher(self.ctx)
        self.warehouse = scheduled_export(  # BK_WAREHOUSE_EXPORT_AT; idle when it is empty
            "ledger-warehouse-export",
            settings,
            clock=runtime.clock.now,
            tenants=partial(warehouse.tenant_ids, self.ctx),
            run_day=partial(warehouse.export_tenant_day, self.ctx),
        )
        self.app = create_app(
            service="ledger", title="Bright Kitchen ledger 电子台账", readiness=self.readiness
        )
        self.app.state.ctx = self.ctx  # for module-level routers (bk_ledger.common.deps.get_ctx)
        for module in ROUTERS:
            # A room is a module-level router, but purchase: a factory, its upload caps are settings.
            built = module.router
            self.app.include_router(built if isinstance(built, APIRouter) else built(self.ctx))
        if isinstance(runtime.store, LocalObjectStore):
            self.app.include_router(object_router(runtime.store))

    async def start(self) -> None:
        ledger_db.all_tables()
        await self.db.migrate(ledger_db.MIGRATIONS)
        self.directory.subscribe(self.runtime.bus, "ledger")
        recall_consumers.subscribe(self.ctx, self.runtime.bus)  # the cases its recalls opened
        # The bus is started by whoever hosts the services (``__main__`` or the one-process runner),
        # after every service has subscribed: Kafka takes subscriptions only before it starts.
        self.relay.start()
        self.sweeper.start()
        self.completeness.loop.start()
        if self.settings.warehouse_export_at:
            self.warehouse.start()
        if self.broker:
            await self.broker.sync()  # the broker may only let the ledger in once its files exist
            self.broker.loop.start()
        if self.mqtt:
            self.mqtt.start()

    async def stop(self) -> None:
        if self.mqtt:
            await self.mqtt.stop()
        if self.broker:
            await self.broker.loop.stop()
        await self.sweeper.stop()
        await self.completeness.loop.stop()
        await self.warehouse.stop()
        await self.relay.stop()
        await self.db.dispose()

    async def readiness(self) -> dict[str, bool]:
        checks = {
            "database": await self.db.ready(),
            "bus": await self.runtime.bus.ready(),
            "object_store": await self.runtime.store.ready(),
        }
        if self.mqtt:
            checks["mqtt"] = self.mqtt.connected
        return checks

    async def sweep(self) -> int:
        """Run the time-based rules once now (the background loop does this every interval)."""
        return await sweep_once(self.ctx)


def create_service(runtime: Runtime, settings: LedgerSettings | None = None) -> LedgerService:
    return LedgerService(runtime, settings or load_settings(LedgerSettings))
