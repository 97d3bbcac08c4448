"""Saving a supervisor's labels: the case row, its timeline entry and its audit entry together."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit import service as audit
from bk_cases.cases.enums import Action
from bk_cases.cases.models import Case, CaseEvent
from bk_cases.context import Context
from bkcore.auth import Principal
from bkcore.verdicts import CaptureLabels


async def save_labels(
    ctx: Context, session: AsyncSession, case: Case, labels: CaptureLabels | None, principal: Principal
) -> None:
    """Store ``labels`` on ``case`` (None = drop the corrections: the verdict's meaning again).

    Audited like every change of a case: the entry holds the labels before and after, so the
    chain shows who taught the model what. No ``cases.v1`` event: the loop's state is unchanged.
    """
    now = ctx.runtime.clock.now()
    before = case.labels
    after = labels.model_dump(mode="json") if labels is not None else None
    case.labels = after
    summary = (
        "labels cleared"
        if labels is None
        else f"{len(labels.objects)} object(s), {len(labels.absent)} absent"
        + (", not a violation" if labels.not_violation else "")
    )
    session.add(
        CaseEvent(
            case_id=case.id,
            tenant_id=case.tenant_id,
            at=now,
            action=Action.LABEL.value,
            actor_id=principal.subject,
            from_status=case.status,
            to_status=case.status,
            note=summary,
            data={"not_violation": bool(labels and labels.not_violation)},
        )
    )
    await audit.append(
        db_session=session,
        tenant_id=case.tenant_id,
        at=now,
        actor_id=principal.subject,
        action=Action.LABEL.value,
        entity_type="case",
        entity_id=case.id,
        data={"before": before, "after": after},
    )
