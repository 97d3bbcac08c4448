"""What routes and sweeps need, handed in once by ``LedgerService`` (no globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.config import RuleConfig
from bk_ledger.common.models import rule_configs
from bk_ledger.settings import LedgerSettings
from bkcore.auth_http import Authenticator
from bkcore.clock import Clock
from bkcore.db import Database, OutboxRelay
from bkcore.objstore.base import ObjectStore


@dataclass
class LedgerContext:
    settings: LedgerSettings
    db: Database
    store: ObjectStore
    clock: Clock
    auth: Authenticator
    relay: OutboxRelay
    #: re-render device credentials on the MQTT broker after a sensor changed (None: not managed here)
    sensors_changed: Callable[[], Awaitable[None]] | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def alerts_written(self) -> None:
        """Wake the relay after a commit that wrote alerts, so they leave within milliseconds."""
        self.relay.notify()


async def rule_config(session: AsyncSession, tenant_id: str) -> RuleConfig:
    row = (
        await session.execute(select(rule_configs.c.config).where(rule_configs.c.tenant_id == tenant_id))
    ).first()
    return RuleConfig.model_validate(row.config) if row else RuleConfig()
