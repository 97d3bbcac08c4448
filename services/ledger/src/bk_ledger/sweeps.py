"""Time-based rules, run every ``sweep_interval_s`` on the runtime's clock.

Each site is swept in its own transaction, so one broken site never stops the others; findings go
through ``alerts.emit``, which only writes what changed (a sweep every minute raises a gap once).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bk_ledger.common import alerts
from bk_ledger.common.context import LedgerContext, rule_config
from bk_ledger.iot import service as iot
from bk_ledger.morning_check import service as morning_check
from bk_ledger.purchase import service as purchase
from bk_ledger.sites.service import list_sites
from bk_ledger.staff import service as staff
from bkcore.tasks import BackgroundLoop

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
    try:
        async with ctx.db.session() as s:
            keep = timedelta(days=ctx.settings.mqtt_dead_letter_retention_days)
            await iot.prune_dead_letters(s, before=now - keep)
    except Exception:
        log.exception("pruning IoT dead letters failed")
    return written


def sweeper(ctx: LedgerContext) -> BackgroundLoop:
    """Runs ``sweep_once`` every ``sweep_interval_s``."""

    async def step() -> None:
        await sweep_once(ctx)

    # First sweep after one interval: at start-up, sites may still be being seeded.
    interval = ctx.settings.sweep_interval_s
    return BackgroundLoop("ledger-sweeps", step, interval_s=interval, initial_delay_s=interval)
