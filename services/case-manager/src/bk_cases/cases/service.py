"""Case data functions (keyword-only, no side effects beyond the session)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.cases.enums import RiskClass
from bk_cases.cases.models import Case, CaseCopy, CaseEvent, Rectification, RiskRule
from bk_cases.cases.rules import GradingRule
from bk_cases.directory.models import Tenant
from bkcore.auth import Principal
from bkcore.auth_http import scope_to_principal


def scoped(stmt, principal: Principal):  # type: ignore[no-untyped-def]
    """Restrict a statement over ``Case`` to the caller's tenant and subtree / sites."""
    return scope_to_principal(
        stmt, principal, tenant_col=Case.tenant_id, org_path_col=Case.org_path, site_id_col=Case.site_id
    )


async def get(
    *, db_session: AsyncSession, case_id: str, principal: Principal | None = None, for_update: bool = False
) -> Case | None:
    """One case; with ``principal`` only when the caller may see it (else None → 404)."""
    stmt = select(Case).where(Case.id == case_id)
    if principal is not None:
        stmt = scoped(stmt, principal)
    if for_update:
        stmt = stmt.with_for_update()
    return await db_session.scalar(stmt)


async def get_open(*, db_session: AsyncSession, open_key: str) -> Case | None:
    return await db_session.scalar(select(Case).where(Case.open_key == open_key).with_for_update())


async def get_open_many(*, db_session: AsyncSession, open_keys: Sequence[str]) -> Sequence[Case]:
    """The open cases of ``open_keys``, locked in key order (concurrent batches never deadlock here)."""
    if not open_keys:
        return []
    stmt = select(Case).where(Case.open_key.in_(list(open_keys))).order_by(Case.open_key)
    return (await db_session.scalars(stmt.with_for_update())).all()


async def open_by_source(
    *, db_session: AsyncSession, tenant_id: str, source: str, source_ref: str
) -> Sequence[Case]:
    """The open cases raised by one source condition (a camera alarm, a ledger alert), oldest first."""
    rows = await db_session.scalars(
        select(Case)
        .where(
            Case.tenant_id == tenant_id,
            Case.source == source,
            Case.source_ref == source_ref,
            Case.closed_at.is_(None),
        )
        .order_by(Case.created_at)
    )
    return rows.all()


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str | None = None
    site_id: str | None = None
    case_type: str | None = None
    risk_class: int | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    card_level: int | None = None
    copied_to: str | None = None  # only cases copied (抄告) to this department


def _filtered(stmt, f: CaseFilter):  # type: ignore[no-untyped-def]
    for col, value in (
        (Case.status, f.status),
        (Case.site_id, f.site_id),
        (Case.case_type, f.case_type),
        (Case.risk_class, f.risk_class),
        (Case.source, f.source),
        (Case.card_level, f.card_level),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if f.copied_to is not None:
        copied = select(CaseCopy.case_id).where(CaseCopy.department == f.copied_to)
        stmt = stmt.where(Case.id.in_(copied))
    if f.since is not None:
        stmt = stmt.where(Case.created_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Case.created_at < f.until)
    return stmt


async def list_page(
    *, db_session: AsyncSession, principal: Principal, filters: CaseFilter, limit: int, offset: int
) -> tuple[Sequence[Case], int]:
    base = _filtered(scoped(select(Case), principal), filters)
    total = await db_session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await db_session.scalars(
        base.order_by(Case.created_at.desc(), Case.id).limit(limit).offset(offset)
    )
    return rows.all(), int(total or 0)


async def timeline(*, db_session: AsyncSession, case_id: str) -> Sequence[CaseEvent]:
    rows = await db_session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    )
    return rows.all()


async def rectifications(*, db_session: AsyncSession, case_id: str) -> Sequence[Rectification]:
    rows = await db_session.scalars(
        select(Rectification).where(Rectification.case_id == case_id).order_by(Rectification.attempt)
    )
    return rows.all()


async def latest_rectification(*, db_session: AsyncSession, case_id: str) -> Rectification | None:
    return await db_session.scalar(
        select(Rectification)
        .where(Rectification.case_id == case_id)
        .order_by(Rectification.attempt.desc())
        .limit(1)
    )


async def tenant_grades(*, db_session: AsyncSession, tenant_id: str) -> list[GradingRule]:
    rows = await db_session.scalars(select(RiskRule).where(RiskRule.tenant_id == tenant_id))
    return [
        GradingRule(r.case_type, RiskClass(r.risk_class), r.deadline_h, r.severity, r.site_scope)
        for r in rows
    ]


async def copies(*, db_session: AsyncSession, case_id: str) -> Sequence[CaseCopy]:
    rows = await db_session.scalars(
        select(CaseCopy).where(CaseCopy.case_id == case_id).order_by(CaseCopy.copied_at)
    )
    return rows.all()


async def copies_page(
    *, db_session: AsyncSession, principal: Principal, department: str, limit: int, offset: int
) -> tuple[Sequence[tuple[CaseCopy, Case]], int]:
    """Copies to ``department`` of the cases the caller may see, newest first, with their cases."""
    base = scoped(
        select(CaseCopy, Case)
        .join(Case, Case.id == CaseCopy.case_id)
        .where(CaseCopy.department == department),
        principal,
    )
    total = await db_session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await db_session.execute(
        base.order_by(CaseCopy.copied_at.desc(), CaseCopy.case_id).limit(limit).offset(offset)
    )
    return [(c, case) for c, case in rows.all()], int(total or 0)


async def class_iii_close_days(*, db_session: AsyncSession) -> list[tuple[str, float]]:
    """Every tenant's quiet period after which its Class III cases close (``Tenant.class_iii_close_days``)."""
    rows = await db_session.execute(select(Tenant.id, Tenant.class_iii_close_days).order_by(Tenant.id))
    return [(tid, float(days)) for tid, days in rows.all()]


async def auto_close_candidates(
    *,
    db_session: AsyncSession,
    tenant_id: str,
    quiet_since: datetime,
    statuses: Sequence[str],
    limit: int = 1000,
) -> Sequence[Case]:
    """A tenant's open Class III cases quiet since ``quiet_since`` (locked, skipping a racing sweep's)."""
    rows = await db_session.scalars(
        select(Case)
        .where(
            Case.tenant_id == tenant_id,
            Case.risk_class == int(RiskClass.III),
            Case.status.in_(list(statuses)),
            Case.last_seen_at <= quiet_since,
            Case.updated_at <= quiet_since,  # a replayed backlog is not quiet (rules.auto_close_due)
        )
        .order_by(Case.last_seen_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return rows.all()


async def due_for_cards(
    *, db_session: AsyncSession, now: datetime, statuses: Sequence[str], limit: int = 1000
) -> Sequence[Case]:
    """Open cases past their deadline still short of a red card (the sweep's work list)."""
    rows = await db_session.scalars(
        select(Case)
        .where(
            Case.status.in_(list(statuses)),
            Case.deadline.is_not(None),
            Case.deadline <= now,
            Case.card_level < 2,
        )
        .order_by(Case.deadline)
        .limit(limit)
        .with_for_update(skip_locked=True)  # replicas sweeping at once card each case once
    )
    return rows.all()


async def follow_site(*, db_session: AsyncSession, tenant_id: str, site_id: str, org_path: str) -> int:
    """A site moved to another org unit: its cases and their copies are scoped by its new path.

    Every case of the site, closed ones too (a supervisor's history is the sites they supervise now);
    returns how many cases changed path.
    """
    of_site = (Case.tenant_id == tenant_id, Case.site_id == site_id)
    moved = await db_session.execute(
        update(Case).where(*of_site, Case.org_path != org_path).values(org_path=org_path)
    )
    await db_session.execute(
        update(CaseCopy)
        .where(
            CaseCopy.tenant_id == tenant_id,
            CaseCopy.org_path != org_path,
            CaseCopy.case_id.in_(select(Case.id).where(*of_site)),
        )
        .values(org_path=org_path)
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]
