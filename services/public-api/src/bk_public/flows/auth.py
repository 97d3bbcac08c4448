"""Parent accounts (SQL for ``bk_public.api.auth``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from bk_public.models import parent
from bkcore.db import Database


async def parent_account(db: Database, *, tenant_id: str, openid: str, nickname: str, now: datetime) -> str:
    """The id of the tenant's parent with this openid, created on first login."""
    async with db.session() as s:
        pid = (
            await s.execute(
                select(parent.c.id).where(parent.c.tenant_id == tenant_id, parent.c.openid == openid)
            )
        ).scalar()
        if pid is None:
            pid = "p-" + uuid.uuid4().hex[:16]
            await s.execute(
                parent.insert().values(
                    id=pid, tenant_id=tenant_id, openid=openid, nickname=nickname, created_at=now
                )
            )
    return str(pid)
