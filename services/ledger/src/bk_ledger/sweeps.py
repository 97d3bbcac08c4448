"""Time-based rules, run every ``sweep_interval_s`` on the runtime's clock.

Each site is swept in its own transaction, so one broken site never stops the others; findings go
through ``alerts.emit``, which only writes what changed (a sweep every minute raises a gap once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bk_ledger.common import alerts
from bk_ledger.common.context import LedgerContext, rule_config
from bk_ledger.iot import service as iot
from bk_ledger.morning_check import service as morning_check
from bk_ledger.purchase import service as purchase
from bk_ledger.sites.service import list_sites
from bk_ledger.staff import service as staff

log = logging.getLogger("bk_ledger.sweeps")


async def sweep_once(ctx: LedgerContext) -> int:
    """Evaluate every time-based rule for every site now; returns how many alerts were written."""
    now = ctx.now()
    async with ctx.db.session() as s:
        sites = await list_sites(s)
    written = 0
    for site in sites:
        try:
            async with ctx.db.session() as s:
                cfg = await rule_config(s, site.tenant_id)
                findings = [
                    *await morning_check.sweep_site(s, site, cfg, now),
                    *await staff.sweep_site(s, site, cfg, now),
                    *await purchase.sweep_site(s, site, cfg, now),
                    *await iot.sweep_site(s, site, now),
                ]
                written += await alerts.emit(s, site.tenant_id, findings, now)
        except Exception:
            log.exception(
                "sweep failed for a site", extra={"tenant_id": site.tenant_id, "site_id": site.site_id}
            )
    if written:
        ctx.alerts_written()
    return written


class Sweeper:
    def __init__(self, ctx: LedgerContext) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ledger-sweeps")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            # Sleep first: at start-up, sites may still be being seeded.
            await asyncio.sleep(self._ctx.settings.sweep_interval_s)
            try:
                await sweep_once(self._ctx)
            except Exception:
                log.exception("sweep failed")
