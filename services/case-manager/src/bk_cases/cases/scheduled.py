"""The sweep: overdue cases get a yellow, then a red card escalated one level up; digests go out.

Runs every ``sweep_interval_s`` on ``runtime.clock`` (tests drive it with a FakeClock). Replicas
can sweep at once: rows are locked with SKIP LOCKED on PostgreSQL, so each case is carded once.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select

from bk_cases.cases import routing
from bk_cases.cases import service as cases
from bk_cases.cases.enums import Action, CardLevel, RiskClass
from bk_cases.cases.flows import SYSTEM, _message, flush_case_updates, record
from bk_cases.cases.models import Case
from bk_cases.cases.rules import AWAITING_SITE, card_due
from bk_cases.context import Context
from bk_cases.directory.rules import parent_path
from bk_cases.notifications.flows import flush_digests, notify
from bkcore.tasks import BackgroundLoop

log = logging.getLogger(__name__)

#: The PrometheusRule BKCaseDeadlinesBreached alerts on its rate. Counted once per card given (a
#: case going overdue gets "yellow", its escalation "red"), by the replica whose sweep gave it.
DEADLINE_BREACHED = Counter(
    "bk_cases_deadline_breached_total",
    "case deadlines breached: yellow (overdue) and red (escalated) cards given by the sweep",
    ["tenant", "risk_class", "card"],
)
#: Open cases past their deadline (still waiting on the site), as of this replica's last sweep.
OVERDUE_OPEN = Gauge("bk_cases_overdue_open", "open cases past their deadline, at the last sweep", ["tenant"])
_overdue_tenants: set[str] = set()
_CARD_LABEL = {CardLevel.YELLOW: "yellow", CardLevel.RED: "red"}


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
            DEADLINE_BREACHED.labels(
                tenant=case.tenant_id, risk_class=RiskClass(case.risk_class).name, card=_CARD_LABEL[card]
            ).inc()
        counts["digests"] = await flush_digests(session, now=now, cooldown_s=ctx.settings.notify_cooldown_s)
        await _count_overdue(session, now)
    if any(counts.values()):
        ctx.wake_relay()
    return counts


async def _count_overdue(session, now) -> None:  # type: ignore[no-untyped-def]
    """Refresh ``bk_cases_overdue_open`` (one grouped count over the ``ix_cases_due`` index)."""
    rows = (
        await session.execute(
            select(Case.tenant_id, func.count())
            .where(Case.status.in_(sorted(AWAITING_SITE)), Case.deadline < now)
            .group_by(Case.tenant_id)
        )
    ).all()
    counts = {tenant_id: int(n) for tenant_id, n in rows}
    for tenant_id in _overdue_tenants - counts.keys():  # none left overdue: 0, not a stale count
        OVERDUE_OPEN.labels(tenant=tenant_id).set(0)
    for tenant_id, n in counts.items():
        OVERDUE_OPEN.labels(tenant=tenant_id).set(n)
    _overdue_tenants.update(counts)


def update_flusher(ctx: Context) -> BackgroundLoop:
    """Tells read models of coalesced merges (``flush_case_updates``); idle when coalescing is off."""
    coalesce_s = ctx.settings.case_update_coalesce_s

    async def step() -> bool:
        # A full page (2000) means more are due: go on at once.
        return coalesce_s > 0 and await flush_case_updates(ctx) == 2000

    # Checked a few times per window, so an update waits at most ~1.25 windows.
    tick = min(1.0, max(0.05, coalesce_s / 4)) if coalesce_s > 0 else 3600.0
    return BackgroundLoop("case-update-flusher", step, interval_s=tick)


def sweeper(ctx: Context) -> BackgroundLoop:
    """Runs ``sweep_once`` (overdue cards, escalation, digests) every ``sweep_interval_s``."""

    async def step() -> None:
        await sweep_once(ctx)

    return BackgroundLoop("case-sweeper", step, interval_s=ctx.settings.sweep_interval_s)
