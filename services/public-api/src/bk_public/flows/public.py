"""Reads anyone may make (SQL for ``bk_public.api.public``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from bk_public.models import notice
from bkcore.db import Database


async def notices(
    db: Database, *, tenant_id: str, site_id: str | None, kind: str | None
) -> list[dict[str, Any]]:
    """The 50 latest notices: tenant-wide ones, plus the site's own when a site is named."""
    n = notice.c
    stmt = select(notice).where(n.tenant_id == tenant_id).order_by(n.published_at.desc()).limit(50)
    stmt = (
        stmt.where(or_(n.site_id.is_(None), n.site_id == site_id))
        if site_id
        else stmt.where(n.site_id.is_(None))
    )
    if kind:
        stmt = stmt.where(n.kind == kind)
    async with db.session() as s:
        rows = (await s.execute(stmt)).all()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "title": r.title,
            "body": r.body,
            "site_id": r.site_id,
            "published_at": r.published_at,
        }
        for r in rows
    ]
