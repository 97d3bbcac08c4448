"""The sweep: overdue cases get a yellow, then a red card escalated one level up; quiet Class III
cases close by themselves; digests go out.

The escalation ladder (``rules.escalation_ladder``): the yellow card goes to the site and the
supervisors who hold the case (the nearest staffed unit over the site); the red card goes to the
supervisors of the next staffed unit above them — never back to the same person — and the site is
told. At the top of the tree the red card is recorded and the site told; there is nobody above.

Runs every ``sweep_interval_s`` on ``runtime.clock`` (tests drive it with a FakeClock). Replicas
can sweep at once: rows are locked with SKIP LOCKED on PostgreSQL, so each case is carded once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select

from bk_cases.cases import routing
from bk_cases.cases import service as cases
from bk_cases.cases.enums import Action, CardLevel, CaseStatus, RiskClass
from bk_cases.cases.flows import SYSTEM, _message, flush_case_updates, record
from bk_cases.cases.models import Case
from bk_cases.cases.rules import AWAITING_SITE, auto_close_due, card_due, verdict_for
from bk_cases.context import Context
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
    counts = {"yellow": 0, "red": 0, "auto_closed": 0, "digests": 0}
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
            site = await routing.site_managers(ctx, session, tenant_id=case.tenant_id, site_id=case.site_id)
            routed = await routing.ladder(ctx, session, tenant_id=case.tenant_id, org_path=case.org_path)
            if card == CardLevel.RED:  # the next staffed unit up, and the site told
                case.escalated_to = routed.ladder.above
                who = [*routed.escalation(), *site]
                action, template, urgent = Action.RED_CARD, "case_escalated", True
                data = {
                    "escalated_to": routed.ladder.above or "(top of the tree: nobody above)",
                    "to": ",".join(routed.ladder.escalate_to),
                }
            else:  # the site and the supervisors who hold the case
                who = [*site, *routed.holders()]
                action, template, urgent = Action.YELLOW_CARD, "case_overdue", case.risk_class == RiskClass.I
                data = {"unit": routed.ladder.unit, "to": ",".join(routed.ladder.supervisors)}
            await record(
                session, case, action=action, actor_id=SYSTEM, previous=case.status, at=now, data=data
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
        counts["auto_closed"] = await _auto_close(session, now)
        counts["digests"] = await flush_digests(session, now=now, cooldown_s=ctx.settings.notify_cooldown_s)
        await _count_overdue(session, now)
    if any(counts.values()):
        ctx.wake_relay()
    return counts


async def _auto_close(session, now) -> int:  # type: ignore[no-untyped-def]
    """Close each tenant's Class III cases quiet for its ``class_iii_close_days`` (no deadline, no card:
    counted for routine supervision, then closed with the verdict ``auto_closed``, never a label)."""
    closed = 0
    for tenant_id, days in await cases.class_iii_close_days(db_session=session):
        quiet_since = now - timedelta(days=days)
        for case in await cases.auto_close_candidates(
            db_session=session, tenant_id=tenant_id, quiet_since=quiet_since, statuses=sorted(AWAITING_SITE)
        ):
            if not auto_close_due(
                risk_class=case.risk_class,
                status=case.status,
                last_seen_at=case.last_seen_at,
                updated_at=case.updated_at,
                now=now,
                after_days=days,
            ):
                continue
            previous = case.status
            case.status, case.updated_at, case.closed_at = CaseStatus.CLOSED.value, now, now
            case.verdict, case.open_key = verdict_for(Action.AUTO_CLOSE), None
            await record(
                session,
                case,
                action=Action.AUTO_CLOSE,
                actor_id=SYSTEM,
                previous=previous,
                at=now,
                note=f"三级案件 {days:g} 天无复发自动关闭 · Class III quiet for {days:g} days",
            )
            closed += 1
    return closed


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
