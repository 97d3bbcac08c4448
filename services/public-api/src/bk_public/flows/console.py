"""The console's reads of the case read model (SQL for ``bk_public.api.console``), each scoped to
what the caller may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bk_public.models import case_event, case_view, complaint
from bk_public.readmodel import CLOSED
from bkcore.auth import Principal
from bkcore.auth_http import scope_to_principal
from bkcore.db import Database


def _scoped(stmt: Any, p: Principal) -> Any:
    return scope_to_principal(
        stmt,
        p,
        tenant_col=case_view.c.tenant_id,
        org_path_col=case_view.c.org_path,
        site_id_col=case_view.c.site_id,
    )


async def cases(
    db: Database,
    *,
    principal: Principal,
    status: str | None,
    site_id: str | None,
    open_only: bool,
    limit: int,
) -> list[Any]:
    """Cases in the caller's scope (rows), newest change first."""
    cv = case_view.c
    stmt = _scoped(select(case_view), principal).order_by(cv.updated_at.desc()).limit(limit)
    if status:
        stmt = stmt.where(cv.status == status)
    if site_id:
        stmt = stmt.where(cv.site_id == site_id)
    if open_only:
        stmt = stmt.where(cv.status.not_in(CLOSED))
    async with db.session() as s:
        return list((await s.execute(stmt)).all())


async def one_case(db: Database, *, principal: Principal, case_id: str) -> Any | None:
    """One case (a row), or None when it is outside the caller's scope or unknown."""
    async with db.session() as s:
        return (
            await s.execute(_scoped(select(case_view), principal).where(case_view.c.case_id == case_id))
        ).first()


async def timeline(db: Database, *, principal: Principal, case_id: str) -> list[Any] | None:
    """Every change of one case (rows), oldest first; None when the caller may not see the case."""
    async with db.session() as s:
        visible = (
            await s.execute(
                _scoped(select(case_view.c.case_id), principal).where(case_view.c.case_id == case_id)
            )
        ).first()
        if visible is None:
            return None
        return list(
            (
                await s.execute(
                    select(case_event).where(case_event.c.case_id == case_id).order_by(case_event.c.at)
                )
            ).all()
        )


async def site_counts(db: Database, *, principal: Principal) -> tuple[dict[str, int], dict[str, int]]:
    """Per site: open cases in the caller's scope, and complaints in the caller's tenant."""
    cv = case_view.c
    async with db.session() as s:
        open_rows = (
            await s.execute(
                _scoped(select(cv.site_id, func.count()), principal)
                .where(cv.status.not_in(CLOSED))
                .group_by(cv.site_id)
            )
        ).all()
        comp_rows = (
            await s.execute(
                select(complaint.c.site_id, func.count())
                .where(complaint.c.tenant_id == principal.tenant_id)
                .group_by(complaint.c.site_id)
            )
        ).all()
    return dict(open_rows), dict(comp_rows)
