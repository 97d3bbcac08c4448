"""The loop that tries held signals again (every ``unknown_site_retry_s``, on ``runtime.clock``)."""

from __future__ import annotations

from bk_cases.cases.consumers import CONSUMERS
from bk_cases.context import Context
from bk_cases.held.flows import release_due
from bkcore.tasks import BackgroundLoop


def releaser(ctx: Context) -> BackgroundLoop:
    async def step() -> None:
        await release_due(ctx, CONSUMERS)

    s = ctx.settings
    return BackgroundLoop(
        "held-signals", step, interval_s=s.unknown_site_retry_s, error_delay_s=s.unknown_site_retry_s
    )
