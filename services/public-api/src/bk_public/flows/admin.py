"""Invite codes, notices and complaints as staff manage them (SQL for ``bk_public.api.admin``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from bk_public.models import binding, complaint, invite_code, notice
from bkcore.db import Database


async def add_invite_code(
    db: Database,
    *,
    code: str,
    tenant_id: str,
    site_id: str,
    label: str,
    created_by: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    async with db.session() as s:
        await s.execute(
            invite_code.insert().values(
                code=code,
                tenant_id=tenant_id,
                site_id=site_id,
                label=label,
                created_by=created_by,
                created_at=created_at,
                expires_at=expires_at,
            )
        )


async def site_invite_codes(db: Database, *, tenant_id: str, site_id: str) -> list[dict[str, Any]]:
    """A site's codes, newest first, each with how many parents it still binds."""
    async with db.session() as s:
        codes = (
            await s.execute(
                select(invite_code)
                .where(invite_code.c.tenant_id == tenant_id, invite_code.c.site_id == site_id)
                .order_by(invite_code.c.created_at.desc())
            )
        ).all()
        bound = (
            await s.execute(
                select(binding.c.invite_code).where(
                    binding.c.tenant_id == tenant_id,
                    binding.c.site_id == site_id,
                    binding.c.revoked_at.is_(None),
                )
            )
        ).all()
    counts: dict[str, int] = {}
    for (c,) in bound:
        counts[c] = counts.get(c, 0) + 1
    return [
        {
            "code": c.code,
            "label": c.label,
            "created_at": c.created_at,
            "expires_at": c.expires_at,
            "revoked": c.revoked_at is not None,
            "bound_parents": counts.get(c.code, 0),
        }
        for c in codes
    ]


async def invite_code_of(db: Database, *, tenant_id: str, code: str) -> Any | None:
    """One of the tenant's invite codes (a row), or None."""
    async with db.session() as s:
        return (
            await s.execute(
                select(invite_code).where(invite_code.c.code == code, invite_code.c.tenant_id == tenant_id)
            )
        ).first()


async def revoke_invite_code(db: Database, *, code: str, at: datetime) -> None:
    """Revoke the code and every live binding made with it, in one transaction."""
    async with db.session() as s:
        await s.execute(update(invite_code).where(invite_code.c.code == code).values(revoked_at=at))
        await s.execute(
            update(binding)
            .where(binding.c.invite_code == code, binding.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )


async def add_notice(
    db: Database,
    *,
    notice_id: str,
    tenant_id: str,
    site_id: str | None,
    kind: str,
    title: str,
    body: str,
    published_at: datetime,
) -> None:
    async with db.session() as s:
        await s.execute(
            notice.insert().values(
                id=notice_id,
                tenant_id=tenant_id,
                site_id=site_id,
                kind=kind,
                title=title,
                body=body,
                published_at=published_at,
            )
        )


async def site_complaints(db: Database, *, tenant_id: str, site_id: str, limit: int = 100) -> list[Any]:
    """A site's latest complaints (rows), newest first."""
    async with db.session() as s:
        return list(
            (
                await s.execute(
                    select(complaint)
                    .where(complaint.c.tenant_id == tenant_id, complaint.c.site_id == site_id)
                    .order_by(complaint.c.created_at.desc())
                    .limit(limit)
                )
            ).all()
        )
