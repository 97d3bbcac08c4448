"""What routes, consumers and flows share: the database, the runtime's adapters, the settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bk_cases.settings import CaseSettings
from bkcore.db import Database, OutboxRelay
from bkcore.service import Runtime

if TYPE_CHECKING:
    from bk_cases.auth.throttling import LoginGuard
    from bkcore.directory import StaffAccess


@dataclass
class Context:
    db: Database
    runtime: Runtime
    settings: CaseSettings
    relay: OutboxRelay | None = None
    login_guard: LoginGuard | None = None  # built on the first login (bk_cases.auth.views)
    staff_access: StaffAccess | None = None  # built on the first request (bk_cases.directory.access)
    # Hot-path caches (site row, tenant grading rules): the consumer reads them for every detection.
    cache: dict[str, tuple[float, object]] = field(default_factory=dict)

    def ttl_get(self, key: str) -> object | None:
        hit = self.cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def ttl_put(self, key: str, value: object, ttl_s: float) -> None:
        if len(self.cache) > 50_000:  # bound memory across many tenants/sites
            self.cache.clear()
        self.cache[key] = (time.monotonic() + ttl_s, value)

    def wake_relay(self) -> None:
        """After a commit that wrote to the outbox: publish now rather than at the next poll."""
        if self.relay is not None:
            self.relay.notify()
