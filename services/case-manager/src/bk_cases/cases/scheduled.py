"""The sweep: overdue cases get a yellow, then a red card escalated one level up; digests go out.

Runs every ``sweep_interval_s`` on ``runtime.clock`` (tests drive it with a FakeClock). Replicas
can sweep at once: rows are locked with SKIP LOCKED on PostgreSQL, so each case is carded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bk_cases.cases import routing
from bk_cases.cases import service as cases
from bk_cases.cases.enums import Action, CardLevel, RiskClass
from bk_cases.cases.flows import SYSTEM, _message, record
from bk_cases.cases.rules import AWAITING_SITE, card_due
from bk_cases.context import Context
from bk_cases.directory.rules import parent_path
from bk_cases.notifications.flows import flush_digests, notify

log = logging.getLogger(__name__)


async def sweep_once(ctx: Context) -> dict[str, int]:
    """One pass; returns counts (for logs and tests)."""
    now = ctx.runtime.clock.now()
    counts = {"yellow": 0, "red": 0, "digests": 0}
    async with ctx.db.session() as session:
        due = await cases.due_for_cards(db_session=session, now=now, statuses=sorted(AWAITING_SITE))
        for case in due:
            card = card_due(
                status=case.status,
                deadline=case.deadline,
                card_level=case.card_level,
                now=now,
                red_after_h=ctx.settings.red_card_after_h,
            )
            if card is None:
                continue
            case.card_level, case.updated_at = int(card), now
            if card == CardLevel.RED:
                case.escalated_to = parent_path(case.org_path)  # one level up the org tree
                who = await routing.supervisors(
                    ctx, session, tenant_id=case.tenant_id, org_path=case.escalated_to
                )
                action, template, urgent = Action.RED_CARD, "case_escalated", True
            else:
                who = [
                    *await routing.site_managers(
                        ctx, session, tenant_id=case.tenant_id, site_id=case.site_id
                    ),
                    *await routing.supervisors(
                        ctx, session, tenant_id=case.tenant_id, org_path=case.org_path
                    ),
                ]
                action, template, urgent = Action.YELLOW_CARD, "case_overdue", case.risk_class == RiskClass.I
            await record(
                session,
                case,
                action=action,
                actor_id=SYSTEM,
                previous=case.status,
                at=now,
                data={"escalated_to": case.escalated_to} if case.escalated_to else None,
            )
            await notify(
                session,
                tenant_id=case.tenant_id,
                recipients=who,
                msg=_message(case, template, urgent=urgent),
                now=now,
                cooldown_s=ctx.settings.notify_cooldown_s,
            )
            counts["red" if card == CardLevel.RED else "yellow"] += 1
        counts["digests"] = await flush_digests(session, now=now, cooldown_s=ctx.settings.notify_cooldown_s)
    if any(counts.values()):
        ctx.wake_relay()
    return counts


class Sweeper:
    """Background task running ``sweep_once`` on an interval."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="case-sweeper")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await sweep_once(self._ctx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("case sweep failed; retrying next interval")
            await asyncio.sleep(self._ctx.settings.sweep_interval_s)
